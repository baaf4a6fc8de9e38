# CrossFormer-L on ImageNet-1k, batch 1024 (8 GPUs x 128 images), drop
# path 0.5 (paper section 5.1).
_base_ = './_base_/crossformer_in1k.py'

model = dict(
    backbone=dict(arch='l', drop_path_rate=0.5),
    neck=dict(in_channels=1024),
    head=dict(in_channels=1024))
