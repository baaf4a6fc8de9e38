# RetinaNet 3x with multi-scale training (paper section 4.2, Table 4): the
# shared recipe (../../_base_/retinanet_fpn_adamw_ms-3x_coco.py: short side
# 480..800, 36 epochs with lr x0.1 after epochs 27 and 33).
# Focal region sizes 15, 13, 9, 7 and a fine ring at every stage (section
# 4.2); the pooled-level bias tables of an ImageNet checkpoint are resized
# when it is loaded. No weight decay on norms and bias tables (Swin's
# detection recipe; the paper does not say).
_base_ = '../../_base_/retinanet_fpn_adamw_ms-3x_coco.py'

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
