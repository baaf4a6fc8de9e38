# UPerNet 160k on ADE20K with a Focal Transformer backbone (paper section 4.3,
# Table 6): 512x512 crops, 160k iterations, batch 16. The paper names only
# these for T/S/B and, for Focal-L, "initial learning rate 6e-5, polynomial
# decay, weight decay 0.01" following Swin; this is Swin's mmseg recipe for
# all variants (../../_base_/upernet_adamw_8xb2-160k_ade20k-512x512.py).
# The paper gives the detection focal region sizes (15, 13, 9, 7) only for
# COCO; ./focal_dense.py uses them here too (high-resolution input, fine ring
# at every stage), with its weight-decay exclusions.
_base_ = [
    '../../_base_/upernet_adamw_8xb2-160k_ade20k-512x512.py',
    './focal_dense.py',
]

model = dict(backbone={{_base_.focal_backbone}})
optim_wrapper = dict(paramwise_cfg={{_base_.focal_paramwise_cfg}})
