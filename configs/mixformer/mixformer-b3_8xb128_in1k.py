# MixFormer-B3 on ImageNet-1k, batch 1024 (8 x 128), drop path 0.1 (spec).
_base_ = './_base_/mixformer_in1k.py'

model = dict(
    backbone=dict(arch='b3', drop_path_rate=0.1), head=dict(in_channels=384))
