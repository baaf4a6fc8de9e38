_base_ = './mask-rcnn_maformer-s_1x_coco.py'

model = dict(
    backbone=dict(arch='l', drop_path_rate=0.3),
    neck=dict(in_channels=[128, 192, 448, 640]))
