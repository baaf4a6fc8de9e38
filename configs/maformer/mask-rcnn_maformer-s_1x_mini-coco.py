# Demo: the MAFormer-S Mask R-CNN of mask-rcnn_maformer-s_1x_coco.py trained
# from scratch on mini-COCO (tools/misc/make_mini_coco.py), small enough to
# train and evaluate on a 2-core CPU in minutes (tools/run_demo.sh, see
# docs/getting_started.md). Only the data, the image size and the schedule
# differ from the COCO config; the backbone, neck and heads are the same.
_base_ = './mask-rcnn_maformer-s_1x_coco.py'

from mmengine.config import Config  # noqa: E402

# Data and image size. mmengine refuses two bases that define the same keys
# and the COCO config already defines every data key, so the dataset base is
# read here and replaces the COCO data section key by key.
_mini_coco = Config.fromfile(
    '{{ fileDirname }}/../_base_/datasets/mini-coco_instance.py')
dataset_type = _mini_coco.dataset_type
data_root = _mini_coco.data_root
metainfo = _mini_coco.metainfo
image_scale = _mini_coco.image_scale
backend_args = _mini_coco.backend_args
train_pipeline = _mini_coco.train_pipeline
test_pipeline = _mini_coco.test_pipeline
train_dataloader = dict(_delete_=True, **_mini_coco.train_dataloader)
val_dataloader = dict(_delete_=True, **_mini_coco.val_dataloader)
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, **_mini_coco.val_evaluator)
test_evaluator = val_evaluator
del Config, _mini_coco

# The heads predict the mini-COCO classes. The training and test settings
# sample fewer RoIs for these 128-pixel images with at most five objects:
# 100 proposals per image and 16 sampled RoIs (at most 4 positives) instead
# of 1000 and 512. With 512 RoIs the RoI heads (RoIAlign, the 1024-d box FCs
# and the 4-conv mask head) cost over 4 times as much as the backbone on CPU.
num_classes = len(metainfo['classes'])
model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=num_classes),
        mask_head=dict(num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(max_per_img=100),
        rcnn=dict(sampler=dict(num=16))),
    test_cfg=dict(rpn=dict(max_per_img=100)))

# Schedule: from scratch with 2 processes x 4 images, 6 epochs (300
# iterations), lr 4e-4 with gradient clipping at norm 5 and a 100-iteration
# warm-up, lr x0.1 for the last epoch. Four images per process rather than
# two halve the per-iteration costs that do not grow with the batch: the
# gradient all-reduce of the 43 M parameters (0.31 s with gloo on 2 cores)
# and the optimizer step; the same 2400 images then train in 16 instead of
# 18 minutes and reach a higher mAP (docs/getting_started.md). Without
# clipping 4e-4 diverged after the warm-up with 2 x 2 images. The fused
# AdamW kernel gives the same update as the default loop in a tenth of its
# time on CPU. The 100 val images are evaluated after every epoch (about
# 40 s with 2 processes) for the mAP curve of docs/getting_started.md
# (tools/misc/demo_figures.py).
max_epochs = 6
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
optim_wrapper = dict(
    optimizer=dict(lr=4e-4, fused=True),
    clip_grad=dict(max_norm=5.0, norm_type=2))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=100),
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[max_epochs - 1],
        gamma=0.1),
]
default_hooks = dict(
    logger=dict(interval=10),
    # A checkpoint every epoch (under 3 minutes): a killed demo resumes
    # with --resume and loses at most one epoch; the last one is kept.
    checkpoint=dict(interval=1, max_keep_ckpts=1),
    visualization=dict(draw=False))
auto_scale_lr = dict(base_batch_size=8)
