# Focal-B on ImageNet-1k, batch 1024 (8 x 128), drop path 0.3
# (paper section 4.1; the spec's 0.2/0.3/0.5 are its COCO rates).
_base_ = './_base_/focal_in1k.py'

model = dict(
    backbone=dict(arch='b', drop_path_rate=0.3), head=dict(in_channels=1024))
