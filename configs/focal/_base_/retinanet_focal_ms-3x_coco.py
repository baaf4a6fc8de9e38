# RetinaNet 3x with multi-scale training (paper section 4.2, Table 4): the
# shared recipe (../../_base_/retinanet_fpn_adamw_ms-3x_coco.py: short side
# 480..800, 36 epochs with lr x0.1 after epochs 27 and 33).
# Backbone settings and weight-decay exclusions: ./focal_dense.py.
_base_ = [
    '../../_base_/retinanet_fpn_adamw_ms-3x_coco.py',
    './focal_dense.py',
]

model = dict(backbone={{_base_.focal_backbone}})
optim_wrapper = dict(paramwise_cfg={{_base_.focal_paramwise_cfg}})
