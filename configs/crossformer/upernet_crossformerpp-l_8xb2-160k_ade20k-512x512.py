_base_ = './_base_/upernet_crossformer_8xb2-160k_ade20k-512x512.py'

# CrossFormer++-L (second generation: region LDA, ACL), ImageNet drop path.
# Converted ImageNet checkpoint (tools/model_converters/crossformer2mmvit.py);
# None trains from scratch.
pretrained = None

model = dict(
    backbone=dict(
        arch='pp-l',
        drop_path_rate=0.5,
        init_cfg=None if pretrained is None else dict(
            type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(in_channels=[128, 256, 512, 1024]),
    auxiliary_head=dict(in_channels=512))
