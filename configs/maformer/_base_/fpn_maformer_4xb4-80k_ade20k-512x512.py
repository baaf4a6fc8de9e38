# Semantic FPN 80k on ADE20K (paper section 4.4, Table 7): AdamW lr 2e-4,
# weight decay 1e-4, 1000 iterations of linear warm-up, then cosine
# annealing to 0 at 80k iterations, 512x512 crops, batch 16; the rest as
# the shared ../../_base_/fpn_adamw_4xb4-80k_ade20k-512x512.py.
# No weight decay on norms and relative position bias tables (Swin's
# recipe, which the paper follows).
_base_ = '../../_base_/fpn_adamw_4xb4-80k_ade20k-512x512.py'

model = dict(backbone=dict(type='MAFormer'))
optim_wrapper = dict(
    optimizer=dict(lr=2e-4),
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        custom_keys={'relative_position_bias_table': dict(decay_mult=0.)}))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='CosineAnnealingLR',
        eta_min=0.,
        T_max=79000,
        begin=1000,
        end=80000,
        by_epoch=False),
]
