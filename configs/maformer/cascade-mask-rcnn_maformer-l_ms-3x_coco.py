_base_ = './_base_/cascade-mask-rcnn_maformer_ms-3x_coco.py'

# MAFormer-L, the paper's COCO drop path (0.3; Cascade: 0.4).
# Path or URL of an ImageNet-pretrained MAFormer classifier checkpoint
# (mmpretrain format, keys under "backbone."); None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='l',
        drop_path_rate=0.4,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[128, 192, 448, 640]))
