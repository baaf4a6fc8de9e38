# Focal Transformer on ImageNet-1k (Focal paper, section 4.1): 300 epochs,
# batch 1024, lr 1e-3 after 20 linear warm-up epochs starting from 1e-5,
# AdamW with cosine decay, weight decay 0.05, gradient norm clipped at 5.0,
# DeiT's augmentation and regularisation without random erasing, repeated
# augmentation and EMA (so: RandAugment, Mixup 0.8, CutMix 1.0, label
# smoothing 0.1). No weight decay on the three relative-bias tables (window,
# fine ring, pooled level), as on Swin's.
#
# Tail: the backbone's output norm of stage 4 (norm3) is the classifier's
# final LayerNorm (as the converter maps it), then mmpretrain's global
# average pooling and linear head. The backbone returns all four stages, as
# in the detection/segmentation configs, so the checkpoint holds every
# output norm (norm0-norm2 get no gradient here: they keep their initial
# values, see docs/pretraining.md), so DDP must allow unused
# parameters. Variants set arch, drop_path_rate and the last stage's channels.
_base_ = '../../_base_/pretrain/imagenet_bs1024_adamw_300e.py'

model = dict(
    backbone=dict(
        type='FocalTransformer', out_indices=(0, 1, 2, 3), out_norms=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', init_cfg=None))

bgr_mean = [103.53, 116.28, 123.675]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            '.ring_bias': dict(decay_mult=0.0),
            '.pooled_bias': dict(decay_mult=0.0),
        }))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-2,
        by_epoch=True,
        end=20,
        convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=20)
]
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
