# HTC 1x (without the semantic branch). The paper uses HTC++ only (with
# Focal-L, ./htcpp_focal_ms-400-1400-3x_coco.py); this is the family's 1x
# detection recipe (./mask-rcnn_focal_1x_coco.py) on mmdet's HTC
# (../../_base_/htc_fpn_adamw_1x_coco.py).
# Focal region sizes 15, 13, 9, 7 and a fine ring at every stage (section
# 4.2); the pooled-level bias tables of an ImageNet checkpoint are resized
# when it is loaded. No weight decay on norms and bias tables (Swin's
# detection recipe; the paper does not say).
_base_ = '../../_base_/htc_fpn_adamw_1x_coco.py'

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
