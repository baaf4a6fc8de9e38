# Semantic FPN 80k on ADE20K. The paper reports no Semantic FPN; this is the
# closest published recipe, PVT's as CrossFormer publishes it
# (../../_base_/fpn_adamw_4xb4-80k_ade20k-512x512.py: AdamW lr 1e-4, weight
# decay 1e-4, poly decay (power 0.9) over 80k iterations, batch 16), with
# the family's dense backbone settings and no weight decay on norms and
# bias tables.
_base_ = '../../_base_/fpn_adamw_4xb4-80k_ade20k-512x512.py'

model = dict(
    backbone=dict(
        type='FocalTransformer',
        expand_sizes=(3, 3, 3, 3),
        focal_windows=(15, 13, 9, 7),
        out_norms=True))
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'norm': dict(decay_mult=0.),
            'window_bias': dict(decay_mult=0.),
            'ring_bias': dict(decay_mult=0.),
            'pooled_bias': dict(decay_mult=0.),
        }))
