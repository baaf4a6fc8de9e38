# Mask R-CNN 1x with a CrossFormer / CrossFormer++ backbone, the authors'
# published detection recipe (paper section 5.2, Table IV): the shared AdamW
# 1x recipe (../../_base_/mask-rcnn_fpn_adamw_1x_coco.py) with weight decay
# 1e-4 on every parameter. Both generations use G = 7 and I = 8, 4, 2, 1 in
# the published detection configs; the LDA grouping is the arch's ('image'
# for CrossFormer, 'region' for CrossFormer++).
_base_ = '../../_base_/mask-rcnn_fpn_adamw_1x_coco.py'

model = dict(
    backbone=dict(
        type='CrossFormer', group_sizes=[7, 7, 7, 7], intervals=[8, 4, 2, 1]))
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
