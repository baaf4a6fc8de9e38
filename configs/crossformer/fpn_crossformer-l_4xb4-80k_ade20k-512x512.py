_base_ = './_base_/fpn_crossformer_4xb4-80k_ade20k-512x512.py'

# CrossFormer-L (first generation: image-wide LDA), ImageNet drop path.
# G = 14, 14, 7, 7 and I = 16, 8, 2, 1 as in the published config
# (section 3.3's detection group sizes): the paper's 482.7G / 49.1 row.
# Converted ImageNet checkpoint (tools/model_converters/crossformer2mmvit.py);
# None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='l',
        drop_path_rate=0.5,
        group_sizes=[14, 14, 7, 7],
        intervals=[16, 8, 2, 1],
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
