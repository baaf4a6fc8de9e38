# Mask R-CNN 3x with multi-scale training. The paper reports no such row;
# this is its Cascade 3x recipe (section 4.3: short side 480..800, AdamW lr
# 1e-4, weight decay 0.05, 36 epochs with lr x0.1 at epochs 27 and 33), the
# shared ../../_base_/mask-rcnn_fpn_adamw_ms-3x_coco.py.
# No weight decay on norms and relative position bias tables (Swin's
# recipe, which the paper follows).
_base_ = '../../_base_/mask-rcnn_fpn_adamw_ms-3x_coco.py'

model = dict(backbone=dict(type='MAFormer'))
optim_wrapper = dict(
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        custom_keys={'relative_position_bias_table': dict(decay_mult=0.)}))
