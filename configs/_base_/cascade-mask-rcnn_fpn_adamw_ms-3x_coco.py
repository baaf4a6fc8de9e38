# Cascade Mask R-CNN 3x with multi-scale training (short side 480..800):
# Swin's box heads (./models/cascade-mask-rcnn_fpn_4conv1fc-giou.py), the
# schedule and optimizer of the Mask R-CNN 3x recipe
# (./schedules/adamw_3x.py), 8 GPUs x 2 images.
_base_ = [
    './models/cascade-mask-rcnn_fpn_4conv1fc-giou.py',
    './datasets/coco_instance_ms-480-800.py',
    './schedules/adamw_3x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, out_indices=(0, 1, 2, 3)))
