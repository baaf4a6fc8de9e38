# HTC 1x (without the semantic branch). The paper reports no HTC; this is
# the family's detection recipe, mmdet's Swin-T Mask R-CNN 1x schedule
# (./mask-rcnn_mixformer_1x_coco.py: AdamW lr 1e-4, weight decay 0.05 except
# on norms and relative position bias tables, 1000 iterations of warm-up,
# 12 epochs) on mmdet's HTC (../../_base_/htc_fpn_adamw_1x_coco.py).
# Backbone settings: ./mixformer_dense.py.
_base_ = ['../../_base_/htc_fpn_adamw_1x_coco.py', './mixformer_dense.py']

model = dict(backbone={{_base_.mixformer_backbone}})
optim_wrapper = dict(paramwise_cfg={{_base_.mixformer_paramwise_cfg}})
param_scheduler = {{_base_.mixformer_1x_param_scheduler}}
