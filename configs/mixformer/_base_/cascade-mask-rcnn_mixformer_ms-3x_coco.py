# Cascade Mask R-CNN 3x with multi-scale training and a MixFormer backbone
# (paper Table 5), Swin's recipe for this detector: each cascade stage's box
# head has 4 shared 3x3 convolutions (SyncBN) and 1 FC layer and regresses
# decoded boxes with a GIoU loss (weight 10)
# (../../_base_/models/cascade-mask-rcnn_fpn_4conv1fc-giou.py); training
# pipeline, schedule and optimizer as the Mask R-CNN 3x recipe
# (./mask-rcnn_mixformer_ms-3x_coco.py, mmdet's Swin 3x). Backbone settings:
# ./mixformer_dense.py.
_base_ = [
    '../../_base_/models/cascade-mask-rcnn_fpn_4conv1fc-giou.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    './mixformer_dense.py',
]
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

pretrained = None
model = dict(backbone={{_base_.mixformer_backbone}})

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[[
            dict(
                type='RandomChoiceResize',
                scales=[(480, 1333), (512, 1333), (544, 1333), (576, 1333),
                        (608, 1333), (640, 1333), (672, 1333), (704, 1333),
                        (736, 1333), (768, 1333), (800, 1333)],
                keep_ratio=True)
        ],
                    [
                        dict(
                            type='RandomChoiceResize',
                            scales=[(400, 1333), (500, 1333), (600, 1333)],
                            keep_ratio=True),
                        dict(
                            type='RandomCrop',
                            crop_type='absolute_range',
                            crop_size=(384, 600),
                            allow_negative_crop=True),
                        dict(
                            type='RandomChoiceResize',
                            scales=[(480, 1333), (512, 1333), (544, 1333),
                                    (576, 1333), (608, 1333), (640, 1333),
                                    (672, 1333), (704, 1333), (736, 1333),
                                    (768, 1333), (800, 1333)],
                            keep_ratio=True)
                    ]]),
    dict(type='PackDetInputs')
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[27, 33],
        gamma=0.1)
]
optim_wrapper = dict(
    type='OptimWrapper',
    paramwise_cfg={{_base_.mixformer_paramwise_cfg}},
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=0.0001,
        betas=(0.9, 0.999),
        weight_decay=0.05))
auto_scale_lr = dict(enable=False, base_batch_size=16)
