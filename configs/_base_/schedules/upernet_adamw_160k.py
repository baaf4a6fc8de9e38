# Swin's UPerNet schedule, which every family's ADE20K UPerNet recipe uses:
# AdamW lr 6e-5, betas (0.9, 0.999), weight decay 0.01, 1500 iterations of
# linear warm-up from lr x1e-6, then poly decay (power 1.0) to 0 at 160k
# iterations (mmseg's 160k loop and checkpointing).
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=6e-5,
        betas=(0.9, 0.999),
        weight_decay=0.01))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0,
        end=1500),
    dict(
        type='PolyLR',
        eta_min=0.,
        power=1.0,
        begin=1500,
        end=160000,
        by_epoch=False),
]
