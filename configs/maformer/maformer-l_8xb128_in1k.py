# MAFormer-L on ImageNet-1k, batch 1024 (8 x 128), lr 1.2e-3, drop path 0.4
# (paper section 4.2; its 85.9 top-1 is with token labeling, not done here).
_base_ = './_base_/maformer_in1k.py'

model = dict(
    backbone=dict(arch='l', drop_path_rate=0.4), head=dict(in_channels=640))

optim_wrapper = dict(optimizer=dict(lr=1.2e-3))
