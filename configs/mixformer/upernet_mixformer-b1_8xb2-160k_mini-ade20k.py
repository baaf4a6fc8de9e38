# Demo: the MixFormer-B1 UPerNet of
# upernet_mixformer-b1_8xb2-160k_ade20k-512x512.py trained from scratch on
# mini-ADE20K (tools/misc/make_mini_ade20k.py), small enough to train and
# evaluate on a 2-core CPU in minutes (tools/run_demo.sh CONFIG). Only
# the data, the image size, the number of classes, the width of the decode
# head and the schedule differ from the ADE20K config.
_base_ = './upernet_mixformer-b1_8xb2-160k_ade20k-512x512.py'

from mmengine.config import Config  # noqa: E402

# Data and image size. mmengine refuses two bases that define the same keys
# and the ADE20K config already defines every data key, so the dataset base
# is read here and replaces the ADE20K data section key by key.
_mini_ade20k = Config.fromfile(
    '{{ fileDirname }}/../_base_/datasets/mini-ade20k.py')
dataset_type = _mini_ade20k.dataset_type
data_root = _mini_ade20k.data_root
metainfo = _mini_ade20k.metainfo
crop_size = _mini_ade20k.crop_size
train_pipeline = _mini_ade20k.train_pipeline
test_pipeline = _mini_ade20k.test_pipeline
train_dataloader = dict(_delete_=True, **_mini_ade20k.train_dataloader)
val_dataloader = dict(_delete_=True, **_mini_ade20k.val_dataloader)
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, **_mini_ade20k.val_evaluator)
test_evaluator = val_evaluator
del Config, _mini_ade20k

# The heads predict the mini-ADE20K classes (tools/train.py turns their
# SyncBN into BN on CPU-only machines). The decode head is 128 channels wide
# instead of 512: its 3x3 fusion convolution (4 x 512 -> 512 channels at
# stride 4) is about 80% of a training step at 512 channels, which leaves
# too few steps for a CPU budget of minutes. The backbone's BatchNorms train
# (norm_eval=False): the ADE20K config freezes them to keep ImageNet
# statistics, which a run from scratch does not have.
num_classes = len(metainfo['classes'])
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(norm_eval=False),
    decode_head=dict(channels=128, num_classes=num_classes),
    auxiliary_head=dict(num_classes=num_classes))

# Schedule: from scratch with 2 processes x 4 images. No validation during
# training; tools/run_demo.sh evaluates the final checkpoint with
# tools/test.py.
max_iters = 1000
train_cfg = dict(max_iters=max_iters, val_begin=max_iters + 1)
optim_wrapper = dict(
    optimizer=dict(lr=4e-4, fused=True),
    clip_grad=dict(max_norm=5.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='PolyLR', eta_min=0., power=0.9, begin=100, end=max_iters,
         by_epoch=False),
]
default_hooks = dict(
    logger=dict(interval=20),
    # A checkpoint every 200 iterations (under 3 minutes): a killed demo
    # resumes with --resume and loses at most that; the last one is kept.
    checkpoint=dict(interval=200, max_keep_ckpts=1),
    visualization=dict(draw=False))
auto_scale_lr = dict(base_batch_size=8)
