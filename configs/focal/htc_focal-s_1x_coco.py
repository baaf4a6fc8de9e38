_base_ = './_base_/htc_focal_1x_coco.py'

# Focal-S, the paper's drop path for Focal-S (0.3).
# Converted ImageNet checkpoint (tools/model_converters/focal2mmvit.py);
# the pooled-level bias tables are resized to the dense-prediction region
# sizes when it is loaded. None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='s',
        drop_path_rate=0.3,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[96, 192, 384, 768]))
