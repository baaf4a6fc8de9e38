# Demo: the MixFormer-B1 Semantic FPN of
# fpn_mixformer-b1_4xb4-80k_ade20k-512x512.py trained from scratch on
# mini-ADE20K (tools/misc/make_mini_ade20k.py), small enough to train and
# evaluate on a 2-core CPU in minutes (tools/run_demo.sh CONFIG). Only the data,
# the image size, the number of classes and the schedule differ from the
# ADE20K config, and the backbone's BatchNorms train; the backbone and the
# heads are the same.
_base_ = './fpn_mixformer-b1_4xb4-80k_ade20k-512x512.py'

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

# The head predicts the mini-ADE20K classes (tools/train.py turns its SyncBN
# into BN on CPU-only machines). The backbone's BatchNorms train
# (norm_eval=False): the ADE20K config freezes them to keep ImageNet
# statistics, which a run from scratch does not have.
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(norm_eval=False),
    decode_head=dict(num_classes=len(metainfo['classes'])))

# Schedule: from scratch with 2 processes x 4 images. The 200 val images
# are evaluated every 200 iterations, with each checkpoint, for the mIoU
# curve of docs/getting_started.md (tools/misc/demo_figures.py).
max_iters = 1000
train_cfg = dict(max_iters=max_iters, val_interval=200)
optim_wrapper = dict(
    optimizer=dict(lr=4e-4, fused=True),
    clip_grad=dict(_delete_=True, max_norm=5.0, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='PolyLR', eta_min=0., power=0.9, begin=100, end=max_iters,
         by_epoch=False),
]
default_hooks = dict(
    logger=dict(interval=20),
    # A checkpoint every 200 iterations (about 3 minutes): a killed demo
    # resumes with --resume and loses at most that; the last one is kept.
    checkpoint=dict(interval=200, max_keep_ckpts=1),
    visualization=dict(draw=False))
auto_scale_lr = dict(base_batch_size=8)
