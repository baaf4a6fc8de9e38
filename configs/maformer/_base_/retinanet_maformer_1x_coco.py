# RetinaNet 1x. The paper reports no RetinaNet; this is its Mask R-CNN 1x
# recipe (./mask-rcnn_maformer_1x_coco.py) on mmdet's RetinaNet
# (../../_base_/retinanet_fpn_adamw_1x_coco.py).
# No weight decay on norms and relative position bias tables (Swin's
# recipe, which the paper follows).
_base_ = '../../_base_/retinanet_fpn_adamw_1x_coco.py'

model = dict(backbone=dict(type='MAFormer'))
optim_wrapper = dict(
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        custom_keys={'relative_position_bias_table': dict(decay_mult=0.)}))
