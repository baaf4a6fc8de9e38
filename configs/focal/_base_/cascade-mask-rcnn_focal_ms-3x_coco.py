# Cascade Mask R-CNN 3x with multi-scale training (paper Table 4 / authors'
# README, Focal-T). The paper gives no head details; its 87M parameters
# match Swin's Cascade Mask R-CNN recipe (the one the paper compares to),
# the shared one (../../_base_/cascade-mask-rcnn_fpn_adamw_ms-3x_coco.py:
# 4conv-1fc box heads with a GIoU loss, short side 480..800, AdamW lr 1e-4,
# weight decay 0.05, 36 epochs).
# Backbone settings and weight-decay exclusions: ./focal_dense.py.
_base_ = [
    '../../_base_/cascade-mask-rcnn_fpn_adamw_ms-3x_coco.py',
    './focal_dense.py',
]

model = dict(backbone={{_base_.focal_backbone}})
optim_wrapper = dict(paramwise_cfg={{_base_.focal_paramwise_cfg}})
