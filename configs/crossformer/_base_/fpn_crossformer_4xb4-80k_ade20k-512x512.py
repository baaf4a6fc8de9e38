# Semantic FPN 80k on ADE20K with a CrossFormer / CrossFormer++ backbone, the
# authors' published recipe (paper section 5.3, Table V), which is the shared
# one (../../_base_/fpn_adamw_4xb4-80k_ade20k-512x512.py: AdamW lr 1e-4,
# weight decay 1e-4, poly decay (power 0.9) over 80k iterations, batch 16).
# The published configs use G = 7 and I = 8, 4, 2, 1 except first-generation
# S and L (G = 14, 14, 7, 7, I = 16, 8, 2, 1, set in those files).
_base_ = '../../_base_/fpn_adamw_4xb4-80k_ade20k-512x512.py'

model = dict(
    backbone=dict(
        type='CrossFormer', group_sizes=[7, 7, 7, 7], intervals=[8, 4, 2, 1]))
