_base_ = './mask-rcnn_maformer-s_1x_coco.py'

model = dict(backbone=dict(arch='b', drop_path_rate=0.3))
