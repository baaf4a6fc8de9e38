_base_ = './_base_/mask-rcnn_maformer_ms-3x_coco.py'

# MAFormer-S, the paper's COCO drop path (0.2; Cascade: 0.2).
# Path or URL of an ImageNet-pretrained MAFormer classifier checkpoint
# (mmpretrain format, keys under "backbone."); None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='s',
        drop_path_rate=0.2,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 320, 512]))
