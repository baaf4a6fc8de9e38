_base_ = './_base_/upernet_maformer_8xb2-160k_ade20k-512x512.py'

# MAFormer-B, the paper's COCO drop path (0.3; Cascade: 0.3).
# Path or URL of an ImageNet-pretrained MAFormer classifier checkpoint
# (mmpretrain format, keys under "backbone."); None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.3,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(in_channels=[64, 128, 320, 512]),
    auxiliary_head=dict(in_channels=320))
