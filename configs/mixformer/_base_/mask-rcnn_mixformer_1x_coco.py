# Mask R-CNN 1x with a MixFormer backbone. The paper (section 4.2) follows
# Swin's detection setting, so this is mmdet's Swin-T Mask R-CNN 1x recipe:
# AdamW lr 1e-4, betas (0.9, 0.999), weight decay 0.05 except on norms and
# relative position bias tables, 1000 iterations of linear warm-up, 12 epochs
# with lr x0.1 after epochs 8 and 11, short side 800 / long side <= 1333,
# 8 GPUs x 2 images. Backbone settings (BatchNorm statistics kept, a
# LayerNorm on each returned stage): ./mixformer_dense.py. The variant files
# set the arch, drop path, checkpoint and the FPN's in_channels.
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
    './mixformer_dense.py',
]
custom_imports = dict(imports=['mmvit_backbones'], allow_failed_imports=False)

pretrained = None
model = dict(backbone={{_base_.mixformer_backbone}})

# The recipe's total batch is 8 GPUs x 2 images; --auto-scale-lr rescales lr
# for other totals.
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
