# The Semantic FPN 80k schedule of PVT, which CrossFormer publishes for
# ADE20K: AdamW lr 1e-4, weight decay 1e-4, poly decay (power 0.9) to 0 over
# 80k iterations without warm-up. mmseg's schedule_80k decays to
# eta_min=1e-4, which with lr 1e-4 would be a constant lr, hence the
# scheduler below.
_base_ = 'mmseg::_base_/schedules/schedule_80k.py'

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=1e-4))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.,
        power=0.9,
        begin=0,
        end=80000,
        by_epoch=False)
]
