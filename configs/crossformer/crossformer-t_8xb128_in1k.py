# CrossFormer-T on ImageNet-1k, batch 1024 (8 GPUs x 128 images), drop
# path 0.1 (paper section 5.1).
_base_ = './_base_/crossformer_in1k.py'

model = dict(
    backbone=dict(arch='t', drop_path_rate=0.1),
    neck=dict(in_channels=512),
    head=dict(in_channels=512))
