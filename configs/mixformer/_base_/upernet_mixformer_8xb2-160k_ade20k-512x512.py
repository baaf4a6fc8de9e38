# UPerNet 160k on ADE20K with a MixFormer backbone. The paper (section 4.3)
# follows Swin, so this is mmseg's Swin-T UPerNet recipe: AdamW lr 6e-5,
# betas (0.9, 0.999), weight decay 0.01 except on norms and relative position
# bias tables, 1500 iterations of linear warm-up from lr x1e-6, then poly
# decay (power 1.0) to 0 at 160k iterations, 512x512 crops, 8 GPUs x 2
# images. The auxiliary FCN head reads stage 3. Backbone settings
# (BatchNorm statistics kept): ./mixformer_dense.py; the heads use SyncBN
# as in mmseg. The variant files set the arch, drop path, checkpoint and
# the heads' in_channels.
_base_ = [
    'mmseg::swin/'
    'swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
    './mixformer_dense.py',
]
custom_imports = dict(
    imports=['mmvit_backbones', 'mmvit_backbones.visualization'],
    allow_failed_imports=False)
# mmseg's visualizer, also for images that are views of a CHW tensor (as
# mmseg's browse_dataset.py passes them; mmvit_backbones/visualization/).
visualizer = dict(type='ContiguousSegLocalVisualizer')

checkpoint_file = None
pretrained = None
model = dict(
    pretrained=None,
    backbone={{_base_.mixformer_backbone}})

auto_scale_lr = dict(enable=False, base_batch_size=16)
