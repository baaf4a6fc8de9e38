_base_ = './_base_/retinanet_mixformer_1x_coco.py'

# MixFormer-B6 (C = 96), ImageNet drop path.
# Converted ImageNet checkpoint (tools/model_converters/mixformer2mmvit.py);
# None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='b6',
        drop_path_rate=0.5,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))
