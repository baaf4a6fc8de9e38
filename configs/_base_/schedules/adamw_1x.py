# The AdamW detection schedule shared by the families' COCO recipes (Swin's,
# which MAFormer, Focal and MixFormer follow; CrossFormer changes the weight
# decay): mmdet's 1x schedule (12 epochs, lr x0.1 after epochs 8 and 11, 500
# iterations of linear warm-up) with AdamW lr 1e-4, betas (0.9, 0.999),
# weight decay 0.05. Which parameters skip weight decay is the family's.
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1e-4,
        betas=(0.9, 0.999),
        weight_decay=0.05))
