# RetinaNet 1x on COCO with a hierarchical ViT backbone: mmdet's RetinaNet
# (FPN from stage 2, start_level=1, extra levels 'on_input') with the AdamW
# 1x schedule (./schedules/adamw_1x.py), short side 800 / long side <= 1333,
# 8 GPUs x 2 images.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    './schedules/adamw_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, out_indices=(0, 1, 2, 3)))
