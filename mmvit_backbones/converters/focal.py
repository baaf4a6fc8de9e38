"""Converter spec of the authors' Focal Transformer checkpoints for
:class:`~mmvit_backbones.models.backbones.focal.FocalTransformer`.

Official names (spec, "Official checkpoints"): ``patch_embed.{proj,norm}``,
``layers.{i}.blocks.{j}.{norm1, pool_layers.0, attn.qkv, attn.proj,
attn.relative_position_bias_table, attn.relative_position_bias_table_to_
neighbors, attn.relative_position_bias_table_to_windows.0, norm2, mlp.fc1,
mlp.fc2}``, ``layers.{i}.downsample.{proj,norm}``, ``norm``, ``head``. The
stored index buffers are dropped (rebuilt by the model), the classifier too;
the final ``norm`` (after stage 4) becomes the stage-4 output norm
``norm3``. The ring table ``(1, heads, 49, 132)`` loses its leading 1.
"""
import math
from typing import Any, Dict, Mapping

import torch

from ..models.backbones.focal import FocalTransformer
from .spec import ConverterSpec, DroppedKey, KeyRule, stage_depth

_BLOCK = r'^layers\.(\d+)\.blocks\.(\d+)\.'
_OURS_BLOCK = r'stages.\1.blocks.\2.'
#: Layout of the ring table: our shape with a leading dimension of 1.
LEADING_ONE = 'leading_one'

KEY_RULES = (
    KeyRule(r'^patch_embed\.proj\.(weight|bias)$',
            r'patch_embed.projection.\1'),
    KeyRule(r'^patch_embed\.norm\.(weight|bias)$', r'patch_embed.norm.\1'),
    KeyRule(r'^layers\.(\d+)\.downsample\.proj\.(weight|bias)$',
            r'stages.\1.downsample.projection.\2'),
    KeyRule(r'^layers\.(\d+)\.downsample\.norm\.(weight|bias)$',
            r'stages.\1.downsample.norm.\2'),
    KeyRule(
        _BLOCK + r'(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.'
        r'(weight|bias)$', _OURS_BLOCK + r'\3.\4'),
    KeyRule(_BLOCK + r'pool_layers\.0\.(weight|bias)$',
            _OURS_BLOCK + r'attn.pool.\3'),
    KeyRule(_BLOCK + r'attn\.relative_position_bias_table$',
            _OURS_BLOCK + 'attn.window_bias.relative_position_bias_table'),
    KeyRule(_BLOCK + r'attn\.relative_position_bias_table_to_neighbors$',
            _OURS_BLOCK + 'attn.ring_bias', LEADING_ONE),
    KeyRule(_BLOCK + r'attn\.relative_position_bias_table_to_windows\.0$',
            _OURS_BLOCK + 'attn.pooled_bias'),
    KeyRule(r'^norm\.(weight|bias)$', r'norm3.\1'),
)

DROPPED_KEYS = (
    DroppedKey('attn.relative_position_index',
               r'\.attn\.relative_position_index$',
               'index buffer, rebuilt by the model'),
    DroppedKey('attn.valid_ind_rolled', r'\.attn\.valid_ind_rolled$',
               'index buffer of the ring tokens, rebuilt by the model'),
    DroppedKey('attn.relative_position_index_0',
               r'\.attn\.relative_position_index_0$',
               'index buffer of the pooled level, rebuilt by the model'),
    DroppedKey('head', r'^head\.', 'the classifier'),
)


def adapt_tensor(layout: str, our_key: str, value: Any) -> torch.Tensor:
    """The ring table without its leading 1; other tensors as stored."""
    return value.squeeze(0) if layout == LEADING_ONE else value


def infer_arch(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
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


FOCAL = ConverterSpec(
    family='Focal Transformer',
    backbone=FocalTransformer,
    source_format='torch',
    key_rules=KEY_RULES,
    dropped_keys=DROPPED_KEYS,
    infer_arch=infer_arch,
    canonical_prefixes=('focal-', ),
    adapt_tensor=adapt_tensor,
    # Only the stage-4 output norm has weights (the classifier's final norm).
    model_kwargs=dict(out_indices=(3, )),
    notes=('Output norms norm0-norm2 are not in classification checkpoints: '
           'dense models initialise them', ),
)
