"""Pieces shared by the converters of the authors' checkpoints.

Each family's ``*_convert.py`` knows its key rules; this module holds what
every converter does the same way: the result record, the check against a
built model, and the command-line report of
``tools/model_converters/*2mmvit.py``.
"""
import argparse
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple)

import torch
from torch import nn

from .checkpoint import (CorruptCheckpointError, UnsafeCheckpointError,
                         refuse_unsafe_checkpoints)

TORCH_TRUST_HELP = ('unpickle SRC with weights_only=False (training '
                    'checkpoints pickle their config); only for files from a '
                    'trusted source')


@dataclass
class ConversionResult:
    """Outcome of converting an official state dict.

    Attributes:
        state_dict (dict): Converted tensors, keyed as in our backbone.
        dropped (list[str]): Official keys deliberately left out.
        unexpected (list[str]): Official keys no rule understands (not
            converted).
    """
    state_dict: Dict[str, torch.Tensor]
    dropped: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)


def rename_state_dict(
    official: Mapping[str, Any],
    dropped_reason: Callable[[str], Optional[str]],
    convert: Callable[[str, Any], Optional[Tuple[str, torch.Tensor]]],
) -> ConversionResult:
    """Sort an official state dict's entries into dropped (``dropped_reason``
    gives a reason), unexpected (``convert`` returns None) and converted
    (``convert`` returns our key and tensor)."""
    result = ConversionResult(state_dict={})
    for key, value in official.items():
        if dropped_reason(key) is not None:
            result.dropped.append(key)
            continue
        converted = convert(key, value)
        if converted is None:
            result.unexpected.append(key)
        else:
            ours, tensor = converted
            result.state_dict[ours] = tensor
    return result


def matching_label(key: str, rules: Mapping[str, str]) -> Optional[str]:
    """Label of the first ``label -> regex`` rule that matches ``key``
    anywhere (``re.search``), or None."""
    for label, pattern in rules.items():
        if re.search(pattern, key):
            return label
    return None


def rewrite_key(key: str, rules: Sequence[Tuple[re.Pattern, str]]
                ) -> Optional[str]:
    """``key`` rewritten by the first ``(compiled regex, template)`` rule
    whose pattern matches its start, or None when none does."""
    for pattern, template in rules:
        if pattern.match(key):
            return pattern.sub(template, key)
    return None


def stage_depth(state_dict: Mapping[str, torch.Tensor], stage: int) -> int:
    """Blocks of stage ``stage`` in a converted state dict (keys
    ``stages.<stage>.blocks.<j>.``); 0 when the stage has none."""
    pattern = re.compile(rf'stages\.{stage}\.blocks\.(\d+)\.')
    indices = [int(m.group(1)) for m in map(pattern.match, state_dict) if m]
    return max(indices) + 1 if indices else 0


def load_torch_checkpoint(path: str, trust: bool) -> dict:
    """``torch.load`` on CPU, weights-only unless ``trust``; a refused
    pickle raises ``UnsafeCheckpointError`` naming its globals."""
    with refuse_unsafe_checkpoints(path):
        return torch.load(path, map_location='cpu', weights_only=not trust)


def extract_official_state_dict(
        checkpoint: Mapping) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """The backbone weights of a loaded official checkpoint.

    Classification files keep them under ``model``; dense-prediction files
    (mmdet 2.x / mmseg 0.x) under ``state_dict`` with a ``backbone.``
    prefix; a bare state dict is taken as is.

    Returns:
        tuple: (state dict with official backbone keys, keys of other parts
        of a dense-prediction model that are skipped).

    Raises:
        KeyError: If no weights are found.
    """
    if 'model' in checkpoint:
        return dict(checkpoint['model']), []
    weights = checkpoint.get('state_dict', checkpoint)
    if not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise KeyError('no weights found: expected the key "model" (the '
                       'authors\' classification checkpoints), "state_dict" '
                       f'or a plain state dict; got keys {sorted(checkpoint)}')
    if any(key.startswith('backbone.') for key in weights):
        backbone = {
            key[len('backbone.'):]: value
            for key, value in weights.items() if key.startswith('backbone.')
        }
        others = [key for key in weights if not key.startswith('backbone.')]
        return backbone, others
    return dict(weights), []


def convert_torch_checkpoint(
    src: str, trust: bool, convert: Callable[[Dict[str, torch.Tensor]],
                                             ConversionResult],
    infer_arch: Callable[[Mapping[str, torch.Tensor]], Any]
) -> Optional[Tuple[Dict[str, torch.Tensor], List[str], ConversionResult,
                    Any]]:
    """Load the authors' torch checkpoint ``src`` and convert its backbone.

    Returns:
        tuple | None: ``(official, skipped, result, arch)``: the official
        backbone weights, the keys of a dense-prediction model's other
        parts, ``convert(official)`` and ``infer_arch`` of its weights; None,
        after printing why on stderr, when the file is refused or holds no
        weights of the family.
    """
    try:
        checkpoint = load_torch_checkpoint(src, trust)
        official, skipped = extract_official_state_dict(checkpoint)
        result = convert(official)
        return official, skipped, result, infer_arch(result.state_dict)
    except UnsafeCheckpointError as error:
        print(f'{error}\nOr rerun with --trust-checkpoint if you trust where '
              'the file comes from.', file=sys.stderr)
    except CorruptCheckpointError as error:
        print(error, file=sys.stderr)
    except KeyError as error:
        print(f'{src}: {error.args[0]}', file=sys.stderr)
    return None


def skipped_notes(skipped: Sequence[str]) -> List[str]:
    """The report's note on the neck/head keys a dense model file brings."""
    if not skipped:
        return []
    return [f'Skipped: {len(skipped)} keys of the neck/heads of a '
            'dense-prediction model (only the backbone is converted)']


def compare_with_model(state_dict: Mapping[str, torch.Tensor],
                       model: nn.Module) -> Dict[str, List[str]]:
    """Keys that keep ``state_dict`` from loading strictly into ``model``.

    BatchNorm's ``num_batches_tracked`` is not required: PyTorch fills it in
    when a state dict lacks it (checkpoints of other frameworks have none).

    Returns:
        dict: ``missing`` (model keys absent from the state dict),
        ``unexpected`` (state dict keys the model lacks) and ``mismatched``
        ('key: checkpoint shape vs model shape').
    """
    expected = {
        key: value
        for key, value in model.state_dict().items()
        if not key.endswith('num_batches_tracked')
    }
    mismatched = [
        f'{key}: {tuple(value.shape)} vs {tuple(expected[key].shape)}'
        for key, value in state_dict.items()
        if key in expected and value.shape != expected[key].shape
    ]
    return dict(
        missing=sorted(set(expected) - set(state_dict)),
        unexpected=sorted(set(state_dict) - set(expected)),
        mismatched=mismatched)


def converter_arg_parser(doc: str, src_help: str,
                         trust_help: str) -> argparse.ArgumentParser:
    """``SRC DST [--trust-checkpoint]``, described by the tool's docstring."""
    parser = argparse.ArgumentParser(description=doc.split('\n\n')[0])
    parser.add_argument('src', help=src_help)
    parser.add_argument('dst', help='output file for mmvit_backbones')
    parser.add_argument(
        '--trust-checkpoint', action='store_true', help=trust_help)
    return parser


def _listing(title: str, keys: Sequence[str]) -> List[str]:
    """``title: none`` or the title and one indented line per key."""
    if not keys:
        return [f'{title}: none']
    return [f'{title} ({len(keys)}):'] + [f'  {key}' for key in keys]


def _dropped_summary(keys: Sequence[str],
                     reason: Callable[[str], Optional[str]]) -> str:
    """Dropped keys counted per rule, e.g. ``head x2, final norm x2``."""
    counts = Counter(reason(key) for key in keys)
    return ', '.join(f'{label} x{n}' for label, n in counts.items())


def save_and_report(src: str,
                    dst: str,
                    result: ConversionResult,
                    model: nn.Module,
                    arch_name: Optional[str],
                    header: Sequence[str],
                    dropped_reason: Callable[[str], Optional[str]],
                    notes: Sequence[str] = ()) -> int:
    """Check ``result`` against ``model``, write ``dst``, print the report.

    The file holds ``{'state_dict': ..., 'meta': ...}`` with bare backbone
    keys, ready for ``init_cfg=dict(type='Pretrained', checkpoint=dst)``.
    It is written even when keys are missing or unexpected, and the report
    says so.

    Args:
        src (str): The official file (named in the metadata).
        dst (str): Output path.
        result (ConversionResult): The converted tensors.
        model (nn.Module): Our backbone built for the inferred arch.
        arch_name (str, optional): Its ``arch_zoo`` name, None if custom.
        header (Sequence[str]): First lines of the report (source, arch).
        dropped_reason (Callable): Label of the rule that dropped a key.
        notes (Sequence[str]): Extra lines after the dropped-key summary.

    Returns:
        int: 0 when the result loads strictly into ``model``, else 1.
    """
    problems = compare_with_model(result.state_dict, model)
    problems['unexpected'] = sorted(result.unexpected + problems['unexpected'])
    lines = [
        *header,
        f'Converted: {len(result.state_dict)} tensors',
        'Dropped (not used by a backbone): ' +
        (_dropped_summary(result.dropped, dropped_reason) or 'none'),
        *notes,
    ]
    lines += _listing('Unexpected keys, not written', problems['unexpected'])
    lines += _listing('Missing keys (the model needs them)',
                      problems['missing'])
    lines += _listing('Shape mismatches', problems['mismatched'])
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    meta = dict(converted_from=os.path.basename(src), arch=arch_name or '')
    torch.save(dict(state_dict=result.state_dict, meta=meta), dst)
    clean = not any(problems.values())
    lines.append(f'Written: {dst}' + (
        f"; use init_cfg=dict(type='Pretrained', checkpoint='{dst}')"
        if clean else ' (INCOMPLETE: see above)'))
    print('\n'.join(lines))
    return 0 if clean else 1
