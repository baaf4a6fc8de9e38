"""Conversion of the authors' MixFormer checkpoints (PaddlePaddle
``.pdparams``) to :class:`~mmvit_backbones.models.backbones.mixformer.
MixFormer`, without PaddlePaddle.

A ``.pdparams`` file written by ``paddle.save(model.state_dict())`` is a
pickled dict of numpy arrays plus one ``StructuredToParameterName@@`` entry
(structured name -> internal parameter name, not a weight). Layouts differ
from ours in three ways: Paddle's ``Linear`` stores its weight as [in, out]
(transposed here), our 1x1 convolutions are ``nn.Linear`` ([out, in, 1, 1]
reshaped to [out, in]), and BatchNorm statistics are called ``_mean`` /
``_variance`` (``running_mean`` / ``running_var``). The converted state dict
holds bare backbone keys; it loads with ``init_cfg=dict(type='Pretrained',
checkpoint=PATH)``. ``tools/model_converters/mixformer2mmvit.py`` is the
command-line front end.
"""
import os
import pickle
import re
import zipfile
from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import torch

from ...utils.checkpoint import (CorruptCheckpointError,
                                 corrupt_checkpoint_message)
from ...utils.conversion import (ConversionResult, matching_label,
                                 rename_state_dict, stage_depth)
from .mixformer import MixFormer

PADDLE_NAME_TABLE = 'StructuredToParameterName@@'
LINEAR, POINTWISE_CONV, SAME = 'linear', 'pointwise_conv', 'same'

_BLOCK = r'^layers\.(\d+)\.blocks\.(\d+)\.'
_OURS_BLOCK = r'stages.\1.blocks.\2.'
_GATE = r'(channel_interaction|spatial_interaction)'
# (official module pattern, our module template, layout of the weight).
MODULE_RULES: Tuple[Tuple[str, str, str], ...] = (
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
PARAM_NAMES = {
    'weight': 'weight',
    'bias': 'bias',
    '_mean': 'running_mean',
    '_variance': 'running_var',
    'relative_position_bias_table': 'relative_position_bias_table',
}
# Official keys a backbone does not use, by label.
DROPPED_KEYS: Dict[str, str] = {
    'attn.relative_position_index': r'\.attn\.relative_position_index$',
    'final norm': r'^norm\.',
    'last_proj': r'^last_proj\.',
    'head': r'^head\.',
}
_COMPILED_RULES = [(re.compile(pattern), template, layout)
                   for pattern, template, layout in MODULE_RULES]
_KEY = re.compile(r'^(?P<module>.+?)\.?(?P<param>weight|bias|_mean|_variance|'
                  r'relative_position_bias_table)$')

# What a .pdparams pickle may reference: numpy arrays, dtypes and scalars,
# and an ordered dict. Anything else (a pickle can call any importable
# function) is refused unless the file is trusted.
_NUMPY_CORE = ('numpy.core.multiarray', 'numpy._core.multiarray',
               'numpy.core.numeric', 'numpy._core.numeric')
SAFE_PICKLE_GLOBALS = {
    **{(module, name): None
       for module in _NUMPY_CORE
       for name in ('_reconstruct', 'scalar', '_frombuffer')},
    ('numpy', 'ndarray'): None,
    ('numpy', 'dtype'): None,
    ('collections', 'OrderedDict'): None,
}


class UnsafePickleError(pickle.UnpicklingError):
    """A ``.pdparams`` file references a global outside
    :data:`SAFE_PICKLE_GLOBALS`."""


def _latin1_bytes(text: str, encoding: str = 'latin1') -> bytes:
    """``_codecs.encode`` as pickle protocol 2 uses it for the raw bytes of
    numpy arrays (``encode(str, 'latin1')``): data, not code; nothing else
    is accepted."""
    if not isinstance(text, str) or encoding.lower() not in ('latin1',
                                                              'latin-1'):
        raise UnsafePickleError(
            'refused _codecs.encode with arguments other than (str, '
            f"'latin1'): got ({type(text).__name__}, {encoding!r})")
    return text.encode('latin1')


# Globals that are replaced by a restricted version of themselves.
_RESTRICTED_PICKLE_GLOBALS = {('_codecs', 'encode'): _latin1_bytes}


class _WeightsUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays and plain containers."""

    def find_class(self, module: str, name: str):
        if (module, name) in _RESTRICTED_PICKLE_GLOBALS:
            return _RESTRICTED_PICKLE_GLOBALS[module, name]
        if (module, name) not in SAFE_PICKLE_GLOBALS:
            raise UnsafePickleError(
                f'refused to unpickle {module}.{name}: a .pdparams file of '
                'weights holds only numpy arrays')
        return super().find_class(module, name)


def load_pdparams(path: str, trust: bool = False) -> Dict[str, np.ndarray]:
    """The arrays of a PaddlePaddle ``.pdparams`` file, keyed by name.

    Args:
        path (str): The file.
        trust (bool): Unpickle with the plain unpickler (any global); only
            for files from a trusted source.

    Raises:
        UnsafePickleError: If the file references other globals and
            ``trust`` is False.
        CorruptCheckpointError: If the file is empty, damaged, or not a
            pickle (a torch ``.pth`` zip archive, random bytes).
        KeyError: If the file is not a dict of arrays.
    """
    if os.path.getsize(path) == 0:
        raise CorruptCheckpointError(
            corrupt_checkpoint_message(path, 'it is empty (0 bytes)'))
    if zipfile.is_zipfile(path):
        raise CorruptCheckpointError(
            f'{path!r} is a zip archive (a torch .pth checkpoint?), not the '
            'pickle of a PaddlePaddle .pdparams file: convert CrossFormer '
            'and Focal .pth files with their own converters')
    try:
        with open(path, 'rb') as f:
            loaded = (pickle.load(f) if trust else _WeightsUnpickler(
                f, encoding='latin1').load())
    except UnsafePickleError:
        raise
    except Exception as error:  # any failure to parse: damaged bytes
        raise CorruptCheckpointError(
            corrupt_checkpoint_message(
                path, 'its pickled data is truncated or damaged '
                f'({type(error).__name__}: {error})')) from None
    if not isinstance(loaded, dict):
        raise KeyError(f'expected a dict of arrays, got {type(loaded)}')
    weights = {k: v for k, v in loaded.items() if k != PADDLE_NAME_TABLE}
    others = sorted(k for k, v in weights.items()
                    if not isinstance(v, np.ndarray))
    if others:
        raise KeyError(f'not a .pdparams state dict: {others[:5]} are not '
                       'arrays')
    return weights


def convert_key(key: str) -> Optional[Tuple[str, str]]:
    """(our key, weight layout) for one official key, or None if no rule
    applies."""
    match = _KEY.match(key)
    if match is None:
        return None
    module, param = match.group('module'), match.group('param')
    for pattern, template, layout in _COMPILED_RULES:
        if pattern.match(module):
            ours = pattern.sub(template, module)
            return f'{ours}.{PARAM_NAMES[param]}', layout
    return None


def dropped_reason(key: str) -> Optional[str]:
    """Label of the ``DROPPED_KEYS`` rule that drops an official key, or
    None when the key is kept."""
    return matching_label(key, DROPPED_KEYS)


def convert_tensor(value, layout: str, key: str) -> torch.Tensor:
    """One official array in our layout (a float copy, never a view of the
    loaded array)."""
    tensor = torch.as_tensor(np.array(value))
    if not key.endswith('.weight') or layout == SAME:
        return tensor
    if layout == LINEAR:
        return tensor.t().contiguous()
    return tensor.reshape(tensor.shape[0], -1)


def convert_mixformer_state_dict(
        official: Mapping[str, np.ndarray]) -> ConversionResult:
    """Rename and re-lay the arrays of an official MixFormer state dict.

    Args:
        official (Mapping[str, ndarray | Tensor]): The authors' weights
            (:func:`load_pdparams`).

    Returns:
        ConversionResult: The converted tensors and the keys left out.
    """

    def convert(key, value):
        converted = convert_key(key)
        if converted is None:
            return None
        ours, layout = converted
        return ours, convert_tensor(value, layout, ours)

    return rename_state_dict(official, dropped_reason, convert)


def infer_arch(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """MixFormer ``arch`` dict matching a converted state dict.

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
    return dict(
        embed_dims=state_dict['patch_embed.norm.weight'].shape[0],
        depths=depths,
        num_heads=heads)


def arch_name(arch: dict) -> Optional[str]:
    """Long ``arch_zoo`` name ('mixformer-b4', ...) whose weights have the
    shapes of ``arch`` (from :func:`infer_arch`), or None."""
    for name, settings in MixFormer.arch_zoo.items():
        if name.startswith('mixformer-') and all(
                settings[key] == value for key, value in arch.items()):
            return name
    return None
