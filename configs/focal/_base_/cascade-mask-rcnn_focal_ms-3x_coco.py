# Cascade Mask R-CNN 3x with multi-scale training (paper Table 4 / authors'
# README, Focal-T). The paper gives no head details; its 87M parameters
# match Swin's Cascade Mask R-CNN recipe (the one the paper compares to),
# the shared one (../../_base_/cascade-mask-rcnn_fpn_adamw_ms-3x_coco.py:
# 4conv-1fc box heads with a GIoU loss, short side 480..800, AdamW lr 1e-4,
# weight decay 0.05, 36 epochs).
# Focal region sizes 15, 13, 9, 7 and a fine ring at every stage (section
# 4.2); the pooled-level bias tables of an ImageNet checkpoint are resized
# when it is loaded. No weight decay on norms and bias tables (Swin's
# detection recipe; the paper does not say).
_base_ = '../../_base_/cascade-mask-rcnn_fpn_adamw_ms-3x_coco.py'

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
