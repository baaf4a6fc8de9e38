# Mask R-CNN 3x with multi-scale training. The paper reports it (Table IV) but
# the authors published no config for it, so this is mmdet's standard 3x
# multi-scale recipe (short side 640..800,
# ../../_base_/datasets/coco_instance_ms-640-800.py) on the 3x AdamW schedule
# (36 epochs, lr x0.1 after epochs 27 and 33), with the optimizer and
# backbone wiring of the 1x recipe.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
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
