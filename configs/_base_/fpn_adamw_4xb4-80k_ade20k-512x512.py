# Semantic FPN 80k on ADE20K with a hierarchical ViT backbone: mmseg's
# Semantic FPN with PVT's AdamW schedule (./schedules/fpn_adamw_80k.py),
# 512x512 crops, batch 16 (4 GPUs x 4 images). The family base sets the
# backbone; the variant file sets the arch, drop path, checkpoint and the
# FPN's in_channels.
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    './schedules/fpn_adamw_80k.py',
    'mmseg::_base_/default_runtime.py',
]
custom_imports = dict(
    imports=['mmvit_backbones', 'mmvit_backbones.visualization'],
    allow_failed_imports=False)
# mmseg's visualizer, also for images that are views of a CHW tensor (as
# mmseg's browse_dataset.py passes them; mmvit_backbones/visualization/).
visualizer = dict(type='ContiguousSegLocalVisualizer')

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(_delete_=True, out_indices=(0, 1, 2, 3)),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=4)
auto_scale_lr = dict(enable=False, base_batch_size=16)
