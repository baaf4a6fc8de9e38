_base_ = './_base_/fpn_crossformer_4xb4-80k_ade20k-512x512.py'

# CrossFormer-S (first generation: image-wide LDA), ImageNet drop path.
# G = 14, 14, 7, 7 and I = 16, 8, 2, 1 as in the published config
# (section 3.3's detection group sizes): the paper's 209.8G / 46.4 row.
# Converted ImageNet checkpoint (tools/model_converters/crossformer2mmvit.py);
# None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='s',
        drop_path_rate=0.2,
        group_sizes=[14, 14, 7, 7],
        intervals=[16, 8, 2, 1],
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))
