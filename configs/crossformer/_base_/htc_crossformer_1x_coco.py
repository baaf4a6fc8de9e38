# HTC 1x (without the semantic branch). The authors published no HTC recipe;
# this is the family's detection recipe (./mask-rcnn_crossformer_1x_coco.py:
# AdamW lr 1e-4, weight decay 1e-4, 1x, G = 7, I = 8, 4, 2, 1) on mmdet's HTC
# (../../_base_/htc_fpn_adamw_1x_coco.py).
_base_ = '../../_base_/htc_fpn_adamw_1x_coco.py'

model = dict(
    backbone=dict(
        type='CrossFormer', group_sizes=[7, 7, 7, 7], intervals=[8, 4, 2, 1]))
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
