"""Key mapping from the authors' Focal Transformer checkpoints to
:class:`~mmvit_backbones.models.backbones.focal.FocalTransformer`.

Official names (spec, "Official checkpoints"): ``patch_embed.{proj,norm}``,
``layers.{i}.blocks.{j}.{norm1, pool_layers.0, attn.qkv, attn.proj,
attn.relative_position_bias_table, attn.relative_position_bias_table_to_
neighbors, attn.relative_position_bias_table_to_windows.0, norm2, mlp.fc1,
mlp.fc2}``, ``layers.{i}.downsample.{proj,norm}``, ``norm``, ``head``. The
stored index buffers are dropped (rebuilt by the model), the classifier too;
the final ``norm`` (after stage 4) becomes the stage-4 output norm
``norm3``. The converted state dict holds bare backbone keys: it loads with
``init_cfg=dict(type='Pretrained', checkpoint=PATH)``.
``tools/model_converters/focal2mmvit.py`` is the command-line front end.
"""
import math
import re
from typing import Dict, Mapping, Optional

import torch

from ...utils.conversion import (ConversionResult, matching_label,
                                 rename_state_dict, rewrite_key, stage_depth)
from .focal import FocalTransformer

_BLOCK = r'^layers\.(\d+)\.blocks\.(\d+)\.'
_OURS_BLOCK = r'stages.\1.blocks.\2.'

# (official key pattern, our key template), whole keys.
KEY_RULES = (
    (r'^patch_embed\.proj\.(weight|bias)$', r'patch_embed.projection.\1'),
    (r'^patch_embed\.norm\.(weight|bias)$', r'patch_embed.norm.\1'),
    (r'^layers\.(\d+)\.downsample\.proj\.(weight|bias)$',
     r'stages.\1.downsample.projection.\2'),
    (r'^layers\.(\d+)\.downsample\.norm\.(weight|bias)$',
     r'stages.\1.downsample.norm.\2'),
    (_BLOCK + r'(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.'
     r'(weight|bias)$', _OURS_BLOCK + r'\3.\4'),
    (_BLOCK + r'pool_layers\.0\.(weight|bias)$', _OURS_BLOCK + r'attn.pool.\3'),
    (_BLOCK + r'attn\.relative_position_bias_table$',
     _OURS_BLOCK + 'attn.window_bias.relative_position_bias_table'),
    (_BLOCK + r'attn\.relative_position_bias_table_to_neighbors$',
     _OURS_BLOCK + 'attn.ring_bias'),
    (_BLOCK + r'attn\.relative_position_bias_table_to_windows\.0$',
     _OURS_BLOCK + 'attn.pooled_bias'),
    (r'^norm\.(weight|bias)$', r'norm3.\1'),
)
# Official keys a backbone does not use, by label.
DROPPED_KEYS: Dict[str, str] = {
    'attn.relative_position_index': r'\.attn\.relative_position_index$',
    'attn.valid_ind_rolled': r'\.attn\.valid_ind_rolled$',
    'attn.relative_position_index_0': r'\.attn\.relative_position_index_0$',
    'head': r'^head\.',
}
_COMPILED_RULES = [(re.compile(pattern), template)
                   for pattern, template in KEY_RULES]


def convert_key(key: str) -> Optional[str]:
    """Our name for one official key, or None if no rule applies."""
    return rewrite_key(key, _COMPILED_RULES)


def dropped_reason(key: str) -> Optional[str]:
    """Label of the ``DROPPED_KEYS`` rule that drops an official key."""
    return matching_label(key, DROPPED_KEYS)


def convert_focal_state_dict(
        official: Mapping[str, torch.Tensor]) -> ConversionResult:
    """Rename the tensors of an official Focal Transformer state dict.

    The ring table ``(1, heads, 49, 132)`` loses its leading 1; every other
    tensor keeps its shape.

    Args:
        official (Mapping[str, Tensor]): The authors' state dict (the
            ``model`` entry of their files, or the bare dict).
    """

    def convert(key, value):
        ours = convert_key(key)
        if ours is None:
            return None
        if ours.endswith('attn.ring_bias'):
            value = value.squeeze(0)
        return ours, value

    return rename_state_dict(official, dropped_reason, convert)


def infer_arch(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """``FocalTransformer`` keyword arguments matching a converted state
    dict: ``arch`` (embed_dims, depths, num_heads, conv_embed),
    ``expand_sizes`` and ``focal_windows`` (window 7).

    Raises:
        KeyError: If the state dict lacks the stem or a stage.
    """
    stem = state_dict.get('patch_embed.projection.weight')
    if stem is None:
        raise KeyError('not a Focal Transformer state dict: no '
                       'patch_embed.proj')
    window = 7
    depths, heads, expand, focal = [], [], [], []
    for i in range(FocalTransformer.num_stages):
        depth = stage_depth(state_dict, i)
        prefix = f'stages.{i}.blocks.0.attn.'
        table = state_dict.get(prefix + 'window_bias.relative_position_bias_'
                               'table')
        if not depth or table is None or prefix + 'pooled_bias' not in \
                state_dict:
            raise KeyError(f'not a Focal Transformer state dict: stage {i} '
                           'has no complete block')
        depths.append(depth)
        heads.append(table.shape[1])
        pooled = state_dict[prefix + 'pooled_bias'].shape[1]
        focal.append(math.isqrt(pooled) - window + 1)
        ring = state_dict.get(prefix + 'ring_bias')
        expand.append(0 if ring is None else _expand_of(ring.shape[-1],
                                                        window))
    arch = dict(
        embed_dims=stem.shape[0],
        depths=depths,
        num_heads=heads,
        conv_embed=stem.shape[-1] == 7)
    return dict(arch=arch, expand_sizes=expand, focal_windows=focal)


def _expand_of(ring_tokens: int, window: int) -> int:
    """e such that 4 (window^2 - (window - e)^2) = ring_tokens."""
    inner = window**2 - ring_tokens // 4
    return window - math.isqrt(inner)


def arch_name(arch: dict) -> Optional[str]:
    """Long ``arch_zoo`` name ('focal-t', 'focal-t-conv', ...) whose weights
    have the shapes of ``arch`` (from :func:`infer_arch`), or None."""
    for name, settings in FocalTransformer.arch_zoo.items():
        if name.startswith('focal-') and all(settings[key] == value
                                             for key, value in arch.items()):
            return name
    return None
