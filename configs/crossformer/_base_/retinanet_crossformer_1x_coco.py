# RetinaNet 1x with a CrossFormer / CrossFormer++ backbone, the authors'
# published detection recipe (paper section 5.2, Table III): the shared AdamW
# 1x recipe (../../_base_/retinanet_fpn_adamw_1x_coco.py, mmdet's RetinaNet
# FPN kept as published) with weight decay 1e-4 on every parameter, G = 7 and
# I = 8, 4, 2, 1 for both generations.
_base_ = '../../_base_/retinanet_fpn_adamw_1x_coco.py'

model = dict(
    backbone=dict(
        type='CrossFormer', group_sizes=[7, 7, 7, 7], intervals=[8, 4, 2, 1]))
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
