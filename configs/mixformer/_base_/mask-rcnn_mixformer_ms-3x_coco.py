# Mask R-CNN 3x with multi-scale training and a MixFormer backbone: mmdet's
# Swin-T Mask R-CNN 3x recipe (the paper follows Swin): the DETR-style
# multi-scale pipeline (short side 480..800, or a resize to 400..600, a
# 384..600 crop and a resize to 480..800), 36 epochs with lr x0.1 after
# epochs 27 and 33, 1000 iterations of linear warm-up, AdamW lr 1e-4, weight
# decay 0.05 except on norms and relative position bias tables. Backbone
# settings: ./mixformer_dense.py.
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py',
    './mixformer_dense.py',
]
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

pretrained = None
model = dict(backbone={{_base_.mixformer_backbone}})

train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
