# Mask R-CNN 1x with MAFormer-S (paper section 4.3, Table 5): AdamW lr 1e-4,
# weight decay 0.05, 12 epochs with lr x0.1 at epochs 8 and 11, short side
# 800 / long side <= 1333, drop path 0.2, 8 GPUs x 2 images.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

# Path or URL of an ImageNet-pretrained MAFormer classifier checkpoint
# (mmpretrain format, keys under "backbone."); None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        _delete_=True,
        type='MAFormer',
        arch='s',
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 320, 512]))

train_dataloader = dict(batch_size=2, num_workers=2)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1e-4,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        custom_keys={'relative_position_bias_table': dict(decay_mult=0.)}))

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
         end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1),
]

# The recipe's total batch is 8 GPUs x 2 images; --auto-scale-lr rescales lr
# for other totals.
auto_scale_lr = dict(enable=False, base_batch_size=16)
