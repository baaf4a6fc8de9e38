"""Converter spec of the authors' CrossFormer / CrossFormer++ checkpoints
for :class:`~mmvit_backbones.models.backbones.crossformer.CrossFormer`.

Both code generations share one naming scheme (``patch_embed``,
``layers.{i}.blocks.{j}``, ``layers.{i}.downsample``); the first also stores
the buffers ``attn.biases`` and ``attn.relative_position_index``, the second
the ACL weights ``ex_conv``/``ex_ln``. Classification files keep the weights
under ``model``, the first generation's detection/segmentation files under
``state_dict`` with a ``backbone.`` prefix. Tensors keep their shapes.
"""
from typing import Any, Dict, Mapping

import torch

from ..models.backbones.crossformer import CrossFormer
from .spec import ConverterSpec, DroppedKey, KeyRule, stage_depth

_BLOCK = r'^layers\.(\d+)\.blocks\.(\d+)\.'
_OURS_BLOCK = r'stages.\1.blocks.\2.'
_PARAM = r'(?P<param>weight|bias)$'

# (official module pattern, our module template); the parameter is kept.
_MODULE_RULES = (
    (r'^patch_embed\.projs\.(\d+)\.', r'patch_embed.projections.\1.'),
    (r'^patch_embed\.norm\.', 'patch_embed.norm.'),
    (r'^layers\.(\d+)\.downsample\.norm\.', r'stages.\1.downsample.norm.'),
    (r'^layers\.(\d+)\.downsample\.reductions\.(\d+)\.',
     r'stages.\1.downsample.projections.\2.'),
    (_BLOCK + r'(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.',
     _OURS_BLOCK + r'\3.'),
    (_BLOCK + r'attn\.pos\.pos_proj\.',
     _OURS_BLOCK + 'attn.position_bias.mlp.0.'),
    (_BLOCK + r'attn\.pos\.pos1\.0\.',
     _OURS_BLOCK + 'attn.position_bias.mlp.1.'),
    (_BLOCK + r'attn\.pos\.pos1\.2\.',
     _OURS_BLOCK + 'attn.position_bias.mlp.3.'),
    (_BLOCK + r'attn\.pos\.pos2\.0\.',
     _OURS_BLOCK + 'attn.position_bias.mlp.4.'),
    (_BLOCK + r'attn\.pos\.pos2\.2\.',
     _OURS_BLOCK + 'attn.position_bias.mlp.6.'),
    (_BLOCK + r'attn\.pos\.pos3\.0\.',
     _OURS_BLOCK + 'attn.position_bias.mlp.7.'),
    (_BLOCK + r'attn\.pos\.pos3\.2\.',
     _OURS_BLOCK + 'attn.position_bias.mlp.9.'),
    (_BLOCK + r'ex_conv\.', _OURS_BLOCK + 'cooling.conv.'),
    (_BLOCK + r'ex_ln\.', _OURS_BLOCK + 'cooling.norm.'),
)

KEY_RULES = tuple(
    KeyRule(pattern + _PARAM, template + r'\g<param>')
    for pattern, template in _MODULE_RULES)

DROPPED_KEYS = (
    DroppedKey('attn.biases', r'\.attn\.biases$',
               'first generation: precomputed DPB inputs, rebuilt on the fly'),
    DroppedKey('attn.relative_position_index',
               r'\.attn\.relative_position_index$',
               'first generation: index buffer, rebuilt by the model'),
    DroppedKey('head', r'^head\.', 'the classifier'),
    DroppedKey('final norm', r'^norm\.',
               "the classifier's norm after stage 4"),
)


def infer_arch(state_dict: Mapping[str, torch.Tensor]) -> Dict[str, Any]:
    """``CrossFormer`` keyword arguments matching a converted state dict:
    ``arch`` (embed_dims, depths, num_heads, amplitude_cooling).

    Reads D from the stem norm, the depth of each stage from its block keys,
    the heads from the DPB output layer and the presence of ACLs. Group sizes
    and intervals have no weights and are not inferred.

    Raises:
        KeyError: If the state dict lacks the stem norm or a stage.
    """
    if 'patch_embed.norm.weight' not in state_dict:
        raise KeyError('not a CrossFormer state dict: no patch_embed.norm')
    depths, heads = [], []
    for i in range(CrossFormer.num_stages):
        depth = stage_depth(state_dict, i)
        head_key = f'stages.{i}.blocks.0.attn.position_bias.mlp.9.weight'
        if not depth or head_key not in state_dict:
            raise KeyError(f'not a CrossFormer state dict: stage {i} has no '
                           'blocks')
        depths.append(depth)
        heads.append(state_dict[head_key].shape[0])
    return dict(arch=dict(
        embed_dims=state_dict['patch_embed.norm.weight'].shape[0],
        depths=depths,
        num_heads=heads,
        amplitude_cooling=any('.cooling.' in k for k in state_dict)))


CROSSFORMER = ConverterSpec(
    family='CrossFormer',
    backbone=CrossFormer,
    source_format='torch',
    key_rules=KEY_RULES,
    dropped_keys=DROPPED_KEYS,
    infer_arch=infer_arch,
    canonical_prefixes=('crossformer-', 'crossformerpp-'),
)
