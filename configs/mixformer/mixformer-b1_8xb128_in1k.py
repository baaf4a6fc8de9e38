# MixFormer-B1 on ImageNet-1k, batch 1024 (8 x 128), drop path 0.0 (spec).
_base_ = './_base_/mixformer_in1k.py'

model = dict(
    backbone=dict(arch='b1', drop_path_rate=0.0), head=dict(in_channels=256))
