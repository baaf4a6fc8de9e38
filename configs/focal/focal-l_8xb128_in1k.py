# Focal-L (C = 196) on ImageNet-1k, batch 1024 (8 x 128). The paper pretrains
# Focal-L on ImageNet-22K and gives no recipe for it; this config applies the
# ImageNet-1k recipe of Focal-B (section 4.1, drop path 0.3), which Focal-L
# extends by width only.
_base_ = './_base_/focal_in1k.py'

model = dict(
    backbone=dict(arch='l', drop_path_rate=0.3), head=dict(in_channels=1568))
