# Hybrid Task Cascade 1x on COCO with a hierarchical ViT backbone: mmdet's
# HTC without the semantic branch (that branch needs COCO-stuff maps) and
# mmdet's 1x schedule (12 epochs, lr x0.1 after epochs 8 and 11, 500
# iterations of warm-up), with AdamW lr 1e-4, weight decay 0.05 as
# ./schedules/adamw_1x.py, short side 800 / long side <= 1333, 8 GPUs x 2
# images.
_base_ = 'mmdet::htc/htc-without-semantic_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

model = dict(backbone=dict(_delete_=True, out_indices=(0, 1, 2, 3)))
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1e-4,
        betas=(0.9, 0.999),
        weight_decay=0.05))
