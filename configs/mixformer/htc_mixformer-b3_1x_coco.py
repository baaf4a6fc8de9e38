_base_ = './_base_/htc_mixformer_1x_coco.py'

# MixFormer-B3 (C = 48), ImageNet drop path.
# Converted ImageNet checkpoint (tools/model_converters/mixformer2mmvit.py);
# None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='b3',
        drop_path_rate=0.1,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[48, 96, 192, 384]))
