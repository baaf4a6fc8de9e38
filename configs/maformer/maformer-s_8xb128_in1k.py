# MAFormer-S on ImageNet-1k, batch 1024 (8 x 128), lr 1.6e-3, drop path 0.1
# (paper section 4.2).
_base_ = './_base_/maformer_in1k.py'

model = dict(backbone=dict(arch='s', drop_path_rate=0.1))
