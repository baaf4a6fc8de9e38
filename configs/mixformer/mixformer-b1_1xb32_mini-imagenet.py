# MixFormer-B1 with its ImageNet-1k recipe (./mixformer-b1_8xb128_in1k.py) on
# the synthetic mini ImageNet (make it with tools/misc/make_mini_imagenet.py):
# only the data (6 classes, 64x64 crops, one process x 32 images, lighter
# augmentation: no Mixup/CutMix, see the dataset base) and the schedule (20
# epochs, 1 warm-up epoch, lr 1e-3 kept at this batch) change.
# A CPU smoke test of the pretraining path; docs/pretraining.md has its
# numbers.
_base_ = './mixformer-b1_8xb128_in1k.py'

from mmengine.config import Config  # noqa: E402

# mmengine refuses two bases that define the same keys and the ImageNet
# config already defines every data key, so the dataset base is read here
# and replaces the ImageNet data section.
_mini = Config.fromfile(
    '{{ fileDirname }}/../_base_/datasets/mini-imagenet.py')
data_root = _mini.data_root
data_preprocessor = dict(_delete_=True, **_mini.data_preprocessor)
train_pipeline = _mini.train_pipeline
test_pipeline = _mini.test_pipeline
train_dataloader = dict(_delete_=True, **_mini.train_dataloader)
val_dataloader = dict(_delete_=True, **_mini.val_dataloader)
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, **_mini.val_evaluator)
test_evaluator = val_evaluator
model = dict(
    head=dict(num_classes=_mini.data_preprocessor.num_classes),
    train_cfg=dict(_delete_=True))
del Config, _mini

max_epochs = 20
warmup_epochs = 1
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True)
]
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=5, max_keep_ckpts=1))
