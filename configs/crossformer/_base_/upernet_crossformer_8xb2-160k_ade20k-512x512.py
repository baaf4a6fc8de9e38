# UPerNet 160k on ADE20K with a CrossFormer / CrossFormer++ backbone, the
# authors' published recipe (paper section 5.3, Table V), which is Swin's
# (../../_base_/upernet_adamw_8xb2-160k_ade20k-512x512.py) with no weight
# decay on parameters whose names contain 'norm', as published. G = 7 and
# I = 8, 4, 2, 1 for both generations.
_base_ = '../../_base_/upernet_adamw_8xb2-160k_ade20k-512x512.py'

model = dict(
    backbone=dict(
        type='CrossFormer', group_sizes=[7, 7, 7, 7], intervals=[8, 4, 2, 1]))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'norm': dict(decay_mult=0.)}))
