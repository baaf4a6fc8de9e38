# HTC++ with a Focal Transformer backbone (paper section 4.2, Table 5, used
# with Focal-L): Hybrid Task Cascade with its semantic branch (COCO-stuff
# maps, as mmdet's HTC), InstaBoost (needs the ``instaboostfast`` package),
# multi-scale training with the short side drawn from 400..1400 and the long
# side <= 1600, soft-NMS at test time, AdamW lr 1e-4 with weight decay 0.1,
# 3x schedule (36 epochs, lr x0.1 after epochs 27 and 33), 8 GPUs x 2 images.
# Backbone wiring as the other detection recipes (region sizes 15, 13, 9, 7,
# fine ring at every stage, weight-decay exclusions of ./focal_dense.py).
_base_ = ['mmdet::htc/htc_r50_fpn_1x_coco.py', './focal_dense.py']
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='FocalTransformer',
        expand_sizes=(3, 3, 3, 3),
        focal_windows=(15, 13, 9, 7),
        out_indices=(0, 1, 2, 3),
        out_norms=True),
    test_cfg=dict(
        rcnn=dict(nms=dict(type='soft_nms', iou_threshold=0.5))))

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(
        type='InstaBoost',
        action_candidate=('normal', 'horizontal', 'skip'),
        action_prob=(1, 0, 0),
        scale=(0.8, 1.2),
        dx=15,
        dy=15,
        theta=(-1, 1),
        color_prob=0.5,
        hflag=False,
        aug_ratio=0.5),
    dict(
        type='LoadAnnotations', with_bbox=True, with_mask=True, with_seg=True),
    dict(
        type='RandomResize', scale=[(1600, 400), (1600, 1400)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
auto_scale_lr = dict(enable=False, base_batch_size=16)

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1e-4,
        betas=(0.9, 0.999),
        weight_decay=0.1),
    paramwise_cfg={{_base_.focal_paramwise_cfg}})

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[27, 33],
        gamma=0.1),
]
