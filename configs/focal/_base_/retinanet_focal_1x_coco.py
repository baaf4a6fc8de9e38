# RetinaNet 1x with a Focal Transformer backbone, the paper's COCO recipe
# (section 4.2, Tables 3-4): AdamW lr 1e-4, weight decay 0.05, 12 epochs with
# lr x0.1 after epochs 8 and 11, 500 iterations of linear warm-up (mmdet's
# schedule_1x), short side 800 / long side <= 1333, 8 GPUs x 2 images.
# Detection focal region sizes 15, 13, 9, 7 and a fine ring at every stage
# (section 4.2); the pooled-level bias tables of an ImageNet checkpoint are
# resized when it is loaded. No weight decay on norms and bias tables (Swin's
# detection recipe; the paper does not say). mmdet's RetinaNet FPN is kept
# (start_level=1, add_extra_convs='on_input'). The variant files set the
# arch, drop path, checkpoint and the FPN's in_channels.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='FocalTransformer',
        expand_sizes=(3, 3, 3, 3),
        focal_windows=(15, 13, 9, 7),
        out_indices=(0, 1, 2, 3),
        out_norms=True))

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1e-4,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'norm': dict(decay_mult=0.),
            'window_bias': dict(decay_mult=0.),
            'ring_bias': dict(decay_mult=0.),
            'pooled_bias': dict(decay_mult=0.),
        }))

# The recipe's total batch is 8 GPUs x 2 images; --auto-scale-lr rescales lr
# for other totals.
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
