_base_ = './_base_/mask-rcnn_mixformer_1x_coco.py'

# MixFormer-B0 (C = 24), ImageNet drop path.
# Converted ImageNet checkpoint (tools/model_converters/mixformer2mmvit.py);
# None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='b0',
        drop_path_rate=0.0,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[24, 48, 96, 192]))
