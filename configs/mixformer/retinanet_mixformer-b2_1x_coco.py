_base_ = './_base_/retinanet_mixformer_1x_coco.py'

# MixFormer-B2 (C = 32), ImageNet drop path.
# Converted ImageNet checkpoint (tools/model_converters/mixformer2mmvit.py);
# None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='b2',
        drop_path_rate=0.05,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[32, 64, 128, 256]))
