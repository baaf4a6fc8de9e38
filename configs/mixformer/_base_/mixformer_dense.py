# MixFormer as every dense-prediction recipe of the family uses it, read by
# the family bases as {{_base_.mixformer_backbone}} (it replaces the base's
# backbone whole) and {{_base_.mixformer_paramwise_cfg}}.
# The backbone's BatchNorms keep their ImageNet statistics (norm_eval=True,
# affine parameters trained), as mmdet's ResNet: with 1-2 images per GPU,
# batch statistics would be noisy (the channel interaction's BN sees one
# vector per image). For SyncBN instead, set
# norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False. Each
# returned stage gets a LayerNorm (out_norms), as Swin in mmdet. No weight
# decay on norms and relative position bias tables (Swin's recipe, which the
# paper follows).
mixformer_backbone = dict(
    _delete_=True,
    type='MixFormer',
    out_indices=(0, 1, 2, 3),
    out_norms=True,
    norm_cfg=dict(type='BN', requires_grad=True),
    norm_eval=True,
    frozen_stages=-1,
    with_cp=False)
mixformer_paramwise_cfg = dict(
    custom_keys={
        'absolute_pos_embed': dict(decay_mult=0.),
        'relative_position_bias_table': dict(decay_mult=0.),
        'norm': dict(decay_mult=0.)
    })
# mmdet's Swin-T 1x schedule, which the Mask R-CNN 1x recipe inherits: 1000
# iterations of linear warm-up, lr x0.1 after epochs 8 and 11.
mixformer_1x_param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
