# RetinaNet 1x. The paper reports no RetinaNet; this is the family's
# detection recipe, mmdet's Swin-T Mask R-CNN 1x schedule
# (./mask-rcnn_mixformer_1x_coco.py: AdamW lr 1e-4, weight decay 0.05 except
# on norms and relative position bias tables, 1000 iterations of warm-up,
# 12 epochs) on mmdet's RetinaNet
# (../../_base_/retinanet_fpn_adamw_1x_coco.py). Backbone settings:
# ./mixformer_dense.py.
_base_ = [
    '../../_base_/retinanet_fpn_adamw_1x_coco.py',
    './mixformer_dense.py',
]

model = dict(backbone={{_base_.mixformer_backbone}})
optim_wrapper = dict(paramwise_cfg={{_base_.mixformer_paramwise_cfg}})
param_scheduler = {{_base_.mixformer_1x_param_scheduler}}
