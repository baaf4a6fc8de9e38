"""Key mapping from the authors' CrossFormer / CrossFormer++ checkpoints to
:class:`~mmvit_backbones.models.backbones.crossformer.CrossFormer`.

Both code generations share one naming scheme (``patch_embed``,
``layers.{i}.blocks.{j}``, ``layers.{i}.downsample``); the first also stores
the buffers ``attn.biases`` and ``attn.relative_position_index``, the second
the ACL weights ``ex_conv``/``ex_ln``. The converted state dict holds bare
backbone keys (no prefix): it loads with ``init_cfg=dict(type='Pretrained',
checkpoint=PATH)``. ``tools/model_converters/crossformer2mmvit.py`` is the
command-line front end.
"""
import re
from typing import Dict, Mapping, Optional, Tuple

import torch

from ...utils.conversion import (ConversionResult, matching_label,
                                 rename_state_dict, rewrite_key, stage_depth)
from .crossformer import CrossFormer

_BLOCK = r'^layers\.(\d+)\.blocks\.(\d+)\.'
_OURS_BLOCK = r'stages.\1.blocks.\2.'
_PARAM = r'(?P<param>weight|bias)$'

# (official key pattern, our key template); the parameter name is kept.
KEY_RULES: Tuple[Tuple[str, str], ...] = (
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
# Official keys a backbone does not use, by label: the first generation's
# precomputed DPB inputs (rebuilt on the fly), the classifier and its norm.
DROPPED_KEYS: Dict[str, str] = {
    'attn.biases': r'\.attn\.biases$',
    'attn.relative_position_index': r'\.attn\.relative_position_index$',
    'head': r'^head\.',
    'final norm': r'^norm\.',
}
_COMPILED_RULES = [(re.compile(pattern + _PARAM), template + r'\g<param>')
                   for pattern, template in KEY_RULES]


def convert_key(key: str) -> Optional[str]:
    """Our name for one official parameter key, or None if no rule applies.
    """
    return rewrite_key(key, _COMPILED_RULES)


def dropped_reason(key: str) -> Optional[str]:
    """Label of the ``DROPPED_KEYS`` rule that drops an official key, or
    None when the key is kept."""
    return matching_label(key, DROPPED_KEYS)


def convert_crossformer_state_dict(
        official: Mapping[str, torch.Tensor]) -> ConversionResult:
    """Rename the tensors of an official CrossFormer(++) state dict.

    Args:
        official (Mapping[str, Tensor]): The authors' ``checkpoint['model']``
            (or the ``backbone.`` part of a dense-prediction checkpoint, with
            the prefix removed; see
            :func:`~mmvit_backbones.utils.conversion.extract_official_state_dict`).

    Returns:
        ConversionResult: The converted tensors and the keys left out.
    """

    def convert(key, value):
        ours = convert_key(key)
        return None if ours is None else (ours, value)

    return rename_state_dict(official, dropped_reason, convert)


def infer_arch(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """CrossFormer ``arch`` dict matching a converted state dict.

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
    return dict(
        embed_dims=state_dict['patch_embed.norm.weight'].shape[0],
        depths=depths,
        num_heads=heads,
        amplitude_cooling=any('.cooling.' in k for k in state_dict))


def arch_name(arch: dict) -> Optional[str]:
    """Long ``arch_zoo`` name ('crossformer-s', 'crossformerpp-s', ...) whose
    weights have the shapes of ``arch`` (from :func:`infer_arch`), or None.
    """
    for name, settings in CrossFormer.arch_zoo.items():
        if name.startswith('crossformer') and '+' not in name and all(
                settings[key] == value for key, value in arch.items()):
            return name
    return None
