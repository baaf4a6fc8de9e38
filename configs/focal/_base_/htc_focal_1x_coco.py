# HTC 1x (without the semantic branch). The paper uses HTC++ only (with
# Focal-L, ./htcpp_focal_ms-400-1400-3x_coco.py); this is the family's 1x
# detection recipe (./mask-rcnn_focal_1x_coco.py) on mmdet's HTC
# (../../_base_/htc_fpn_adamw_1x_coco.py).
# Backbone settings and weight-decay exclusions: ./focal_dense.py.
_base_ = [
    '../../_base_/htc_fpn_adamw_1x_coco.py',
    './focal_dense.py',
]

model = dict(backbone={{_base_.focal_backbone}})
optim_wrapper = dict(paramwise_cfg={{_base_.focal_paramwise_cfg}})
