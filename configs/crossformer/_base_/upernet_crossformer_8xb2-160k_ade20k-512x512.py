# UPerNet 160k on ADE20K with a CrossFormer / CrossFormer++ backbone, the
# authors' published recipe (paper section 5.3, Table V): AdamW lr 6e-5,
# betas (0.9, 0.999), weight decay 0.01 except on the backbone's norm layers
# (parameter names containing 'norm', as published), 1500 iterations of
# linear warm-up from lr x1e-6, then poly decay (power 1.0) to 0 at 160k
# iterations, 512x512 crops, 8 GPUs x 2 images. The auxiliary FCN head reads
# stage 3, so its in_channels is the stage-3 width (set in the variant
# files). The published configs use G = 7 and I = 8, 4, 2, 1 for both
# generations; the LDA grouping is the arch's ('image' for CrossFormer,
# 'region' for CrossFormer++). The variant files set the arch, drop path,
# checkpoint and the heads' in_channels.
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/schedules/schedule_160k.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='CrossFormer',
        group_sizes=[7, 7, 7, 7],
        intervals=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3)),
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=6e-5,
        betas=(0.9, 0.999),
        weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
        end=1500),
    dict(
        type='PolyLR',
        eta_min=0.,
        power=1.0,
        begin=1500,
        end=160000,
        by_epoch=False),
]

# The recipe's total batch is 8 GPUs x 2 images; --auto-scale-lr rescales lr
# for other totals.
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
