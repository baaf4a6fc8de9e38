# Mask R-CNN 1x with a MixFormer backbone. The paper (section 4.2) follows
# Swin's detection setting, so this is mmdet's Swin-T Mask R-CNN 1x recipe:
# AdamW lr 1e-4, betas (0.9, 0.999), weight decay 0.05 except on norms and
# relative position bias tables, 1000 iterations of linear warm-up, 12 epochs
# with lr x0.1 after epochs 8 and 11, short side 800 / long side <= 1333,
# 8 GPUs x 2 images. The backbone's BatchNorms keep their ImageNet
# statistics (norm_eval=True, affine parameters trained), as mmdet's ResNet:
# with 1-2 images per GPU, batch statistics would be noisy (the channel
# interaction's BN sees one vector per image). For SyncBN instead, set
# norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False. Each
# returned stage gets a LayerNorm (out_norms), as Swin in mmdet. The variant
# files set the arch, drop path, checkpoint and the FPN's in_channels.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py'
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

# The recipe's total batch is 8 GPUs x 2 images; --auto-scale-lr rescales lr
# for other totals.
train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
