"""Tiny CrossFormer archs shared by the backbone's and the converter's tests
(tests/models/test_crossformer.py, tests/converters/test_crossformer_convert.py)."""
from mmvit_backbones.models.backbones.crossformer import CrossFormer

TINY_V1 = dict(
    embed_dims=32,
    depths=[2, 2, 3, 2],
    num_heads=[1, 2, 2, 4],
    group_sizes=[3, 3, 3, 2],
    intervals=[4, 2, 2, 1])
TINY_V2 = dict(
    TINY_V1,
    depths=[2, 1, 4, 2],
    amplitude_cooling=True,
    lda_mode='region',
    intervals=[2, 2, 1, 1])
TINY_ARCHS = {'v1': TINY_V1, 'v2': TINY_V2}


def tiny(generation='v1', **kwargs):
    kwargs.setdefault('drop_path_rate', 0.)
    model = CrossFormer(arch=TINY_ARCHS[generation], **kwargs)
    model.init_weights()
    return model.eval()
