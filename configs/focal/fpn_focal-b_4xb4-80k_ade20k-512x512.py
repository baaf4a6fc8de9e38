_base_ = './_base_/fpn_focal_4xb4-80k_ade20k-512x512.py'

# Focal-B, the paper's drop path for Focal-B (0.5).
# Converted ImageNet checkpoint (tools/model_converters/focal2mmvit.py);
# the pooled-level bias tables are resized to the dense-prediction region
# sizes when it is loaded. None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='b',
        drop_path_rate=0.5,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
