# Semantic FPN 80k on ADE20K. The paper reports no Semantic FPN; this is the
# closest published recipe, PVT's as CrossFormer publishes it
# (../../_base_/fpn_adamw_4xb4-80k_ade20k-512x512.py: AdamW lr 1e-4, weight
# decay 1e-4, poly decay (power 0.9) over 80k iterations, batch 16), with no
# weight decay on norms and relative position bias tables as the family's
# other recipes.
# Backbone BatchNorms keep their ImageNet statistics and each returned stage
# gets a LayerNorm, as ./mask-rcnn_mixformer_1x_coco.py explains.
_base_ = '../../_base_/fpn_adamw_4xb4-80k_ade20k-512x512.py'

model = dict(
    backbone=dict(
        type='MixFormer',
        out_norms=True,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        frozen_stages=-1,
        with_cp=False))
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }))
