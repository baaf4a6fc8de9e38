_base_ = './_base_/cascade-mask-rcnn_crossformer_ms-3x_coco.py'

# CrossFormer++-H (second generation: region LDA, ACL), ImageNet drop path.
# Converted ImageNet checkpoint (tools/model_converters/crossformer2mmvit.py);
# None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='pp-h',
        drop_path_rate=0.7,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
