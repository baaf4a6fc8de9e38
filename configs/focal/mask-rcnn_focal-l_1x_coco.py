_base_ = './_base_/mask-rcnn_focal_1x_coco.py'

# Focal-L (C = 196, section 4.1). Drop path as Focal-B (the paper keeps
# all other hyper-parameters of Focal-B).
# ImageNet-22K pretrained in the paper; no public weights exist. None
# trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='l',
        drop_path_rate=0.5,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[196, 392, 784, 1568]))
