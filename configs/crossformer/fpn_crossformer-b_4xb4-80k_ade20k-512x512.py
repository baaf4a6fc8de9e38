_base_ = './_base_/fpn_crossformer_4xb4-80k_ade20k-512x512.py'

# CrossFormer-B (first generation: image-wide LDA), ImageNet drop path.
# G = 7, I = 8, 4, 2, 1 as in the published config: the paper's
# 331.0G / 47.7 row; its 320.1G / 48.0 row, which the authors' README
# lists for the released checkpoint, has the detection group sizes.
# Converted ImageNet checkpoint (tools/model_converters/crossformer2mmvit.py);
# None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.3,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))
