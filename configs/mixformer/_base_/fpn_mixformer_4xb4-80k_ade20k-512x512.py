# Semantic FPN 80k on ADE20K. The paper reports no Semantic FPN; this is the
# closest published recipe, PVT's as CrossFormer publishes it
# (../../_base_/fpn_adamw_4xb4-80k_ade20k-512x512.py: AdamW lr 1e-4, weight
# decay 1e-4, poly decay (power 0.9) over 80k iterations, batch 16), with no
# weight decay on norms and relative position bias tables as the family's
# other recipes.
# Backbone settings: ./mixformer_dense.py.
_base_ = [
    '../../_base_/fpn_adamw_4xb4-80k_ade20k-512x512.py',
    './mixformer_dense.py',
]

model = dict(backbone={{_base_.mixformer_backbone}})
optim_wrapper = dict(paramwise_cfg={{_base_.mixformer_paramwise_cfg}})
