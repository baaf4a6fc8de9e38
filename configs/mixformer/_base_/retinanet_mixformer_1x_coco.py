# RetinaNet 1x. The paper reports no RetinaNet; this is the family's
# detection recipe, mmdet's Swin-T Mask R-CNN 1x schedule
# (./mask-rcnn_mixformer_1x_coco.py: AdamW lr 1e-4, weight decay 0.05 except
# on norms and relative position bias tables, 1000 iterations of warm-up,
# 12 epochs) on mmdet's RetinaNet
# (../../_base_/retinanet_fpn_adamw_1x_coco.py).
# Backbone BatchNorms keep their ImageNet statistics and each returned stage
# gets a LayerNorm, as ./mask-rcnn_mixformer_1x_coco.py explains.
_base_ = '../../_base_/retinanet_fpn_adamw_1x_coco.py'

model = dict(
    backbone=dict(
        type='MixFormer',
        out_norms=True,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        frozen_stages=-1,
        with_cp=False))
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
