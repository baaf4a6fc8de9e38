# ImageNet-1k classification of one of our backbones in the mmpretrain scope:
# the recipe the four papers share (docs/pretraining.md). 300 epochs, AdamW
# (lr 1e-3 at batch 1024, weight decay 0.05, none on norms, biases and
# position-bias tables), 20 warm-up epochs then cosine decay, 224x224 crops
# with RandAugment, Mixup 0.8, CutMix 1.0, random erasing 0.25 and label
# smoothing 0.1 (DeiT's and Swin's settings, mmpretrain's Swin data pipeline
# and schedule), gradient norm clipped at 5.0. 8 processes x 128 images.
# Each family's base (configs/<family>/_base_/<family>_in1k.py) adds the
# backbone, the neck and the head and its own deviations from this recipe.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(
    imports=['mmvit_backbones', 'mmvit_backbones.models.classification'],
    allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    head=dict(
        num_classes=1000,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        cal_acc=False),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
    ],
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(clip_grad=dict(max_norm=5.0))
