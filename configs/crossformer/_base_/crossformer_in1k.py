# CrossFormer and CrossFormer++ on ImageNet-1k (CrossFormer++ paper, section
# 5.1 "Experimental Settings"): AdamW, 300 epochs, cosine decay after 20
# linear warm-up epochs, batch 1024 on 8 GPUs, lr 1e-3, weight decay 0.05,
# RandAugment, Mixup, CutMix, random erasing and stochastic depth "similar to
# Swin". That is the shared recipe; label smoothing 0.1 and gradient clipping
# at 5.0 come from Swin's recipe, the paper does not list them.
#
# Tail: the reference normalises the last stage's tokens, pools and
# classifies. The backbone keeps its dense-prediction layout (no output norms,
# as the reference detector), so the final LayerNorm sits in the neck and is
# not part of what detection/segmentation load (prefix 'backbone.').
# Variants set arch, drop_path_rate and the channels of the last stage.
_base_ = '../../_base_/pretrain/imagenet_bs1024_adamw_300e.py'

model = dict(
    backbone=dict(type='CrossFormer', out_indices=(3, ), out_norms=False),
    neck=dict(type='NormGlobalAveragePooling'),
    head=dict(type='LinearClsHead', init_cfg=None))
