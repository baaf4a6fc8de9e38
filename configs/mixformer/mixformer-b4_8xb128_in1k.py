# MixFormer-B4 on ImageNet-1k, batch 1024 (8 x 128), drop path 0.2 (spec).
_base_ = './_base_/mixformer_in1k.py'

model = dict(
    backbone=dict(arch='b4', drop_path_rate=0.2), head=dict(in_channels=512))
