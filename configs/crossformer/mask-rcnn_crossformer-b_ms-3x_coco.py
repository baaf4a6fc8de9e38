_base_ = './_base_/mask-rcnn_crossformer_ms-3x_coco.py'

# CrossFormer-B (first generation: image-wide LDA), ImageNet drop path.
# The paper's 3x rows (Table IV: S 291.1G, B 398.1G) are the FLOPs of
# the detection group sizes G = 14, 14, 7, 7, I = 16, 8, 2, 1 (section
# 3.3), so the first generation uses them here.
# Converted ImageNet checkpoint (tools/model_converters/crossformer2mmvit.py);
# None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.3,
        group_sizes=[14, 14, 7, 7],
        intervals=[16, 8, 2, 1],
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))
