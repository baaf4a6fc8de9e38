# Mask R-CNN 1x on COCO with a hierarchical ViT backbone: mmdet's Mask R-CNN
# (FPN) with the AdamW 1x schedule (./schedules/adamw_1x.py), short side 800
# / long side <= 1333, 8 GPUs x 2 images (--auto-scale-lr rescales lr for
# other totals). The family base sets the backbone and what skips weight
# decay; the variant file sets the arch, drop path, checkpoint and the
# FPN's in_channels.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    './schedules/adamw_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, out_indices=(0, 1, 2, 3)))
