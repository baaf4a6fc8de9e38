# RetinaNet 1x with a CrossFormer / CrossFormer++ backbone, the authors'
# published detection recipe (paper section 5.2, Table III): AdamW lr 1e-4,
# weight decay 1e-4, 12 epochs with lr x0.1 after epochs 8 and 11, 500
# iterations of linear warm-up (mmdet's schedule_1x), short side 800 / long
# side <= 1333, 8 GPUs x 2 images. mmdet's RetinaNet FPN is kept as published
# (start_level=1, add_extra_convs='on_input'). Both generations use G = 7 and
# I = 8, 4, 2, 1 in the published detection configs; the LDA grouping is the
# arch's ('image' for CrossFormer, 'region' for CrossFormer++). The variant
# files set the arch, drop path, checkpoint and the FPN's in_channels.
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
        type='CrossFormer',
        group_sizes=[7, 7, 7, 7],
        intervals=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3)))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=1e-4))

# The recipe's total batch is 8 GPUs x 2 images; --auto-scale-lr rescales lr
# for other totals.
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
