# UPerNet 160k on ADE20K (paper section 4.4, Table 7): lr 6e-5, weight
# decay 0.01, 1500 iterations of linear warm-up, then linear decay, 512x512
# crops, batch 16: Swin's recipe, the shared
# ../../_base_/upernet_adamw_8xb2-160k_ade20k-512x512.py.
# No weight decay on norms and relative position bias tables (Swin's
# recipe, which the paper follows).
_base_ = '../../_base_/upernet_adamw_8xb2-160k_ade20k-512x512.py'

model = dict(backbone=dict(type='MAFormer'))
optim_wrapper = dict(
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        custom_keys={'relative_position_bias_table': dict(decay_mult=0.)}))
