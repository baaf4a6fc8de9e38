_base_ = './_base_/htc_crossformer_1x_coco.py'

# CrossFormer++-S (second generation: region LDA, ACL), ImageNet drop path.
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
