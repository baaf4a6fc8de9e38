# The Focal Transformer as every dense-prediction recipe of the family uses
# it, read by the family bases as {{_base_.focal_backbone}} and
# {{_base_.focal_paramwise_cfg}}: focal region sizes 15, 13, 9, 7 and a fine
# ring at every stage (paper section 4.2; the pooled-level bias tables of an
# ImageNet checkpoint are resized when it is loaded), a LayerNorm on each
# returned stage, and no weight decay on norms and bias tables (Swin's
# detection recipe; the paper does not say).
focal_backbone = dict(
    type='FocalTransformer',
    expand_sizes=(3, 3, 3, 3),
    focal_windows=(15, 13, 9, 7),
    out_norms=True)
focal_paramwise_cfg = dict(
    custom_keys={
        'norm': dict(decay_mult=0.),
        'window_bias': dict(decay_mult=0.),
        'ring_bias': dict(decay_mult=0.),
        'pooled_bias': dict(decay_mult=0.),
    })
