# Cascade Mask R-CNN 3x with multi-scale training. The paper reports it but
# the authors published no config, so this is the family's 3x recipe
# (./mask-rcnn_crossformer_ms-3x_coco.py: mmdet's 640..800 multi-scale
# training, AdamW lr 1e-4, weight decay 1e-4, 36 epochs) with Swin's cascade
# box heads (../../_base_/models/cascade-mask-rcnn_fpn_4conv1fc-giou.py).
_base_ = [
    '../../_base_/models/cascade-mask-rcnn_fpn_4conv1fc-giou.py',
    '../../_base_/datasets/coco_instance_ms-640-800.py',
    '../../_base_/schedules/adamw_3x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='CrossFormer',
        group_sizes=[7, 7, 7, 7],
        intervals=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3)))
optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
