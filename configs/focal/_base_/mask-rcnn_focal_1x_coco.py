# Mask R-CNN 1x with a Focal Transformer backbone, the paper's COCO recipe
# (section 4.2, Tables 3-4), which is the shared AdamW 1x recipe
# (../../_base_/mask-rcnn_fpn_adamw_1x_coco.py: lr 1e-4, weight decay 0.05,
# 12 epochs, short side 800, 8 GPUs x 2 images).
# Focal region sizes 15, 13, 9, 7 and a fine ring at every stage (section
# 4.2); the pooled-level bias tables of an ImageNet checkpoint are resized
# when it is loaded. No weight decay on norms and bias tables (Swin's
# detection recipe; the paper does not say).
_base_ = '../../_base_/mask-rcnn_fpn_adamw_1x_coco.py'

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
