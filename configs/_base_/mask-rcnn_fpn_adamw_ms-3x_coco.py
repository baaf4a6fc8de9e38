# Mask R-CNN 3x with multi-scale training (short side 480..800): the 1x
# recipe (./mask-rcnn_fpn_adamw_1x_coco.py) with
# ./datasets/coco_instance_ms-480-800.py and ./schedules/adamw_3x.py.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    './datasets/coco_instance_ms-480-800.py',
    './schedules/adamw_3x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, out_indices=(0, 1, 2, 3)))
