_base_ = './_base_/retinanet_crossformer_1x_coco.py'

# CrossFormer++-S (second generation: region LDA, ACL), ImageNet drop path.
# Table III gives this model the 40.8M / 272.1G of the CrossFormer-S
# row above it; it has 33.0M (docs/crossformer.md).
# Converted ImageNet checkpoint (tools/model_converters/crossformer2mmvit.py);
# None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='pp-s',
        drop_path_rate=0.2,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 256, 512]))
