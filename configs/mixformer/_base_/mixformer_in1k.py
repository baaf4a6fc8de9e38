# MixFormer on ImageNet-1k. The paper material we have (Chen et al., CVPR
# 2022; docs/mixformer.md) gives the architecture and the results but no
# training recipe; these configs use the common 300-epoch AdamW recipe of
# Swin and DeiT (batch 1024, lr 1e-3, weight decay 0.05, 20 warm-up epochs,
# cosine, RandAugment, Mixup, CutMix, random erasing, label smoothing 0.1)
# with the stochastic depth per variant of docs/mixformer.md. Check it
# against the paper's section 4 before a real run (docs/pretraining.md).
#
# Tail (docs/mixformer.md): final LayerNorm, then per token Linear(8C, 1280)
# and GELU, average pooling, Linear(1280, classes). The LayerNorm is the
# backbone's stage-4 output norm (norm3); MixFormerClsHead does the rest. All
# four stages are returned, as in the dense configs, so the checkpoint holds
# every output norm (norm0-norm2 get no gradient here and keep their initial
# values); DDP must allow unused parameters.
_base_ = '../../_base_/pretrain/imagenet_bs1024_adamw_300e.py'

model = dict(
    backbone=dict(type='MixFormer', out_indices=(0, 1, 2, 3), out_norms=True),
    head=dict(type='MixFormerClsHead', mid_channels=1280, init_cfg=None))

model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
