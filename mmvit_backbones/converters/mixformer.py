"""Converter spec of the authors' MixFormer checkpoints (PaddlePaddle
``.pdparams``) for :class:`~mmvit_backbones.models.backbones.mixformer.
MixFormer`, without PaddlePaddle.

Layouts differ from ours in three ways: Paddle's ``Linear`` stores its
weight as [in, out] (transposed here), our 1x1 convolutions are
``nn.Linear`` ([out, in, 1, 1] reshaped to [out, in]), and BatchNorm
statistics are called ``_mean`` / ``_variance`` (``running_mean`` /
``running_var``). The file is read by
:func:`mmvit_backbones.checkpoint.load_pdparams`.
"""
from typing import Any, Dict, Mapping

import numpy as np
import torch

from ..models.backbones.mixformer import MixFormer
from .spec import (SAME, ConverterSpec, DroppedKey, rules_with_params,
                   stage_depth)

#: Layouts of official weights: Paddle Linear [in, out]; a 1x1 convolution
#: [out, in, 1, 1] that is an ``nn.Linear`` here.
LINEAR, POINTWISE_CONV = 'linear', 'pointwise_conv'

_BLOCK = r'^layers\.(\d+)\.blocks\.(\d+)\.'
_OURS_BLOCK = r'stages.\1.blocks.\2.'
_GATE = r'(channel_interaction|spatial_interaction)'
# (official module pattern, our module template, layout of the weight).
_MODULE_RULES = (
    (r'^patch_embed\.stem\.0$', 'patch_embed.convs.0', SAME),
    (r'^patch_embed\.stem\.3$', 'patch_embed.convs.1', SAME),
    (r'^patch_embed\.stem\.6$', 'patch_embed.convs.2', SAME),
    (r'^patch_embed\.stem\.1$', 'patch_embed.norms.0', SAME),
    (r'^patch_embed\.stem\.4$', 'patch_embed.norms.1', SAME),
    (r'^patch_embed\.stem\.7$', 'patch_embed.norms.2', SAME),
    (r'^patch_embed\.(proj|norm)$', r'patch_embed.\1', SAME),
    (r'^layers\.(\d+)\.downsample\.(norm|reduction)$',
     r'stages.\1.downsample.\2', SAME),
    (_BLOCK + r'(norm1|norm2)$', _OURS_BLOCK + r'\3', SAME),
    (_BLOCK + r'mlp\.(fc1|fc2)$', _OURS_BLOCK + r'mlp.\3', LINEAR),
    (_BLOCK + r'attn\.(proj_attn|proj_cnn|qkv|proj)$',
     _OURS_BLOCK + r'attn.\3', LINEAR),
    (_BLOCK + r'attn\.(proj_attn_norm|proj_cnn_norm|attn_norm|conv_norm)$',
     _OURS_BLOCK + r'attn.\3', SAME),
    (_BLOCK + r'attn\.dwconv3x3\.0$', _OURS_BLOCK + 'attn.dwconv', SAME),
    (_BLOCK + r'attn\.dwconv3x3\.1$', _OURS_BLOCK + 'attn.dwconv_norm',
     SAME),
    (_BLOCK + r'attn\.projection$', _OURS_BLOCK + 'attn.projection',
     POINTWISE_CONV),
    (_BLOCK + r'attn\.' + _GATE + r'\.0$', _OURS_BLOCK + r'attn.\3.fc1',
     POINTWISE_CONV),
    (_BLOCK + r'attn\.' + _GATE + r'\.1$', _OURS_BLOCK + r'attn.\3.norm',
     SAME),
    (_BLOCK + r'attn\.' + _GATE + r'\.3$', _OURS_BLOCK + r'attn.\3.fc2',
     POINTWISE_CONV),
    # the table is a parameter of the attention itself
    (_BLOCK + r'attn$', _OURS_BLOCK + 'attn.position_bias', SAME),
)
# Official parameter name -> ours.
PARAM_NAMES = {
    'weight': 'weight',
    'bias': 'bias',
    '_mean': 'running_mean',
    '_variance': 'running_var',
    'relative_position_bias_table': 'relative_position_bias_table',
}
KEY_RULES = rules_with_params(_MODULE_RULES, PARAM_NAMES)

DROPPED_KEYS = (
    DroppedKey('attn.relative_position_index',
               r'\.attn\.relative_position_index$',
               'index buffer, rebuilt by the model'),
    DroppedKey('final norm', r'^norm\.',
               "the classifier's norm after stage 4"),
    DroppedKey('last_proj', r'^last_proj\.',
               "the classifier's projection to 1280 channels"),
    DroppedKey('head', r'^head\.', 'the classifier'),
)


def adapt_tensor(layout: str, our_key: str, value: Any) -> torch.Tensor:
    """One official array in our layout (a copy, never a view of the loaded
    array): Linear weights transposed, 1x1 convolution weights flattened."""
    tensor = torch.as_tensor(np.array(value))
    if not our_key.endswith('.weight') or layout == SAME:
        return tensor
    if layout == LINEAR:
        return tensor.t().contiguous()
    return tensor.reshape(tensor.shape[0], -1)


def infer_arch(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """``MixFormer`` keyword arguments matching a converted state dict:
    ``arch`` (embed_dims, depths, num_heads).

    Reads C from the stem norm, the depth of each stage from its block keys
    and the heads from the relative position bias tables.

    Raises:
        KeyError: If the state dict lacks the stem norm or a stage.
    """
    if 'patch_embed.norm.weight' not in state_dict:
        raise KeyError('not a MixFormer state dict: no patch_embed.norm')
    depths, heads = [], []
    for i in range(MixFormer.num_stages):
        depth = stage_depth(state_dict, i)
        table = (f'stages.{i}.blocks.0.attn.position_bias.'
                 'relative_position_bias_table')
        if not depth or table not in state_dict:
            raise KeyError(f'not a MixFormer state dict: stage {i} has no '
                           'blocks')
        depths.append(depth)
        heads.append(state_dict[table].shape[1])
    return dict(arch=dict(
        embed_dims=state_dict['patch_embed.norm.weight'].shape[0],
        depths=depths,
        num_heads=heads))


MIXFORMER = ConverterSpec(
    family='MixFormer',
    backbone=MixFormer,
    source_format='pdparams',
    key_rules=KEY_RULES,
    dropped_keys=DROPPED_KEYS,
    infer_arch=infer_arch,
    canonical_prefixes=('mixformer-', ),
    adapt_tensor=adapt_tensor,
)
