_base_ = './_base_/upernet_focal_8xb2-160k_ade20k-512x512.py'

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
    decode_head=dict(in_channels=[196, 392, 784, 1568]),
    auxiliary_head=dict(in_channels=784))
