_base_ = './_base_/retinanet_crossformer_1x_coco.py'

# CrossFormer-T (first generation: image-wide LDA), ImageNet drop path.
# Converted ImageNet checkpoint (tools/model_converters/crossformer2mmvit.py);
# None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='t',
        drop_path_rate=0.1,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 256, 512]))
