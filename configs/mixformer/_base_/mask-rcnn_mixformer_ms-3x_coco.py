# Mask R-CNN 3x with multi-scale training and a MixFormer backbone: mmdet's
# Swin-T Mask R-CNN 3x recipe (the paper follows Swin): the DETR-style
# multi-scale pipeline (short side 480..800, or a resize to 400..600, a
# 384..600 crop and a resize to 480..800), 36 epochs with lr x0.1 after
# epochs 27 and 33, 1000 iterations of linear warm-up, AdamW lr 1e-4, weight
# decay 0.05 except on norms and relative position bias tables. Backbone
# wiring and BatchNorm treatment as in the 1x recipe
# (./mask-rcnn_mixformer_1x_coco.py).
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py'
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

pretrained = None
model = dict(
    backbone=dict(
        _delete_=True,
        type='MixFormer',
        out_indices=(0, 1, 2, 3),
        out_norms=True,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        frozen_stages=-1,
        with_cp=False))

train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
