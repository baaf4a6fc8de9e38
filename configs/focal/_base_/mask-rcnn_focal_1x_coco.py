# Mask R-CNN 1x with a Focal Transformer backbone, the paper's COCO recipe
# (section 4.2, Tables 3-4), which is the shared AdamW 1x recipe
# (../../_base_/mask-rcnn_fpn_adamw_1x_coco.py: lr 1e-4, weight decay 0.05,
# 12 epochs, short side 800, 8 GPUs x 2 images).
# Backbone settings and weight-decay exclusions: ./focal_dense.py.
_base_ = [
    '../../_base_/mask-rcnn_fpn_adamw_1x_coco.py',
    './focal_dense.py',
]

model = dict(backbone={{_base_.focal_backbone}})
optim_wrapper = dict(paramwise_cfg={{_base_.focal_paramwise_cfg}})
