_base_ = './_base_/htc_crossformer_1x_coco.py'

# CrossFormer-B (first generation: image-wide LDA), ImageNet drop path.
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
