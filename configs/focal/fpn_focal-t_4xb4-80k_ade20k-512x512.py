_base_ = './_base_/fpn_focal_4xb4-80k_ade20k-512x512.py'

# Focal-T, the paper's drop path for Focal-T (0.2).
# Converted ImageNet checkpoint (tools/model_converters/focal2mmvit.py);
# the pooled-level bias tables are resized to the dense-prediction region
# sizes when it is loaded. None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='t',
        drop_path_rate=0.2,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))
