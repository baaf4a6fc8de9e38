# MAFormer-B on ImageNet-1k, batch 1024 (8 x 128), lr 1.6e-3, drop path 0.3
# (paper section 4.2; its 85.0 top-1 is with token labeling, not done here).
_base_ = './_base_/maformer_in1k.py'

model = dict(backbone=dict(arch='b', drop_path_rate=0.3))
