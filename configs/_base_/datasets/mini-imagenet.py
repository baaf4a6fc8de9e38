# The synthetic mini ImageNet of tools/misc/make_mini_imagenet.py (run it
# first): 6 shape classes, 72x72 images, 120 train and 40 val images per
# class, in the ImageNet layout (train/, val/, meta/{train,val,classes}.txt).
# The test pipeline is that of mmpretrain's Swin ImageNet base
# (imagenet_bs64_swin_224.py) with the sizes scaled from 224 / 256 to
# 64 / 72. Training keeps only random crops of at least 64 % of the image and
# flips: each image shows one small shape, which ImageNet's crops down to 8 %
# of the area often cut away, and from scratch on 720 images RandAugment and
# random erasing kept a MixFormer-B1 at chance for 8 epochs (17.1 %).
dataset_type = 'ImageNet'
data_root = 'data/mini_imagenet/'
class_names = data_root + 'meta/classes.txt'

data_preprocessor = dict(
    num_classes=6,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=64,
        crop_ratio_range=(0.64, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=72,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        classes=class_names,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        classes=class_names,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
