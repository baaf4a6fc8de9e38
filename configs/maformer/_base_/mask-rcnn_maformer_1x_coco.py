# Mask R-CNN 1x with a MAFormer backbone (paper section 4.3, Table 5): the
# shared AdamW 1x recipe (../../_base_/mask-rcnn_fpn_adamw_1x_coco.py: lr
# 1e-4, weight decay 0.05, 12 epochs with lr x0.1 at epochs 8 and 11, short
# side 800 / long side <= 1333, 8 GPUs x 2 images).
# No weight decay on norms and relative position bias tables (Swin's
# recipe, which the paper follows).
_base_ = '../../_base_/mask-rcnn_fpn_adamw_1x_coco.py'

model = dict(backbone=dict(type='MAFormer'))
optim_wrapper = dict(
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        custom_keys={'relative_position_bias_table': dict(decay_mult=0.)}))
