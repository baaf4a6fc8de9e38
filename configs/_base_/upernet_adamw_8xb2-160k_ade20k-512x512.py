# UPerNet 160k on ADE20K with a hierarchical ViT backbone: mmseg's UPerNet
# with Swin's schedule (./schedules/upernet_adamw_160k.py), 512x512 crops,
# 8 GPUs x 2 images. The auxiliary FCN head reads stage 3, so its
# in_channels is the stage-3 width (set in the variant files with the
# arch, drop path and checkpoint).
_base_ = [
    'mmseg::_base_/models/upernet_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    './schedules/upernet_adamw_160k.py',
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
    decode_head=dict(num_classes=150),
    auxiliary_head=dict(num_classes=150))

train_dataloader = dict(batch_size=2)
auto_scale_lr = dict(enable=False, base_batch_size=16)
