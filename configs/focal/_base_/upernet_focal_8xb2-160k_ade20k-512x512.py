# UPerNet 160k on ADE20K with a Focal Transformer backbone (paper section 4.3,
# Table 6): 512x512 crops, 160k iterations, batch 16. The paper names only
# these for T/S/B and, for Focal-L, "initial learning rate 6e-5, polynomial
# decay, weight decay 0.01" following Swin; this is Swin's mmseg recipe for
# all variants (../../_base_/upernet_adamw_8xb2-160k_ade20k-512x512.py), no
# weight decay on norms and bias tables. The paper gives the detection focal
# region sizes (15, 13, 9, 7) only for COCO; they are used here too
# (high-resolution input, fine ring at every stage).
_base_ = '../../_base_/upernet_adamw_8xb2-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(
        type='FocalTransformer',
        expand_sizes=(3, 3, 3, 3),
        focal_windows=(15, 13, 9, 7),
        out_norms=True))
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'norm': dict(decay_mult=0.),
            'window_bias': dict(decay_mult=0.),
            'ring_bias': dict(decay_mult=0.),
            'pooled_bias': dict(decay_mult=0.),
        }))
