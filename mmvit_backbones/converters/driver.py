"""The one conversion pipeline every family runs through.

:func:`convert_checkpoint` loads the authors' file safely
(:mod:`mmvit_backbones.checkpoint`), extracts the backbone's state dict,
renames and re-lays it by the family's :class:`~.spec.ConverterSpec`, infers
the architecture from the converted shapes, builds our backbone and checks
that the result loads strictly into it, writes the file and returns the
report. Nothing is printed: the command lines in
``tools/model_converters/`` print the report and choose the exit status.
"""
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

import torch
from torch import nn

from ..checkpoint import load_pdparams, load_torch_checkpoint
from .spec import ConversionResult, ConverterSpec, convert_state_dict


class UnrecognizedCheckpointError(ValueError):
    """A readable file holds no weights of the converter's family (the
    message names the file)."""


@dataclass(frozen=True)
class SourceFormat:
    """How a source format is loaded and where its backbone weights are.

    Attributes:
        load (Callable): ``load(path, trust)``, the safe loader.
        extract (Callable): ``extract(loaded)`` -> (official backbone state
            dict, keys of other parts of the model that are skipped).
        counted_as (str): What the report's source line counts.
    """
    load: Callable[[str, bool], Any]
    extract: Callable[[Any], Tuple[Dict[str, Any], List[str]]]
    counted_as: str


def extract_official_state_dict(
        checkpoint: Mapping) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """The backbone weights of a loaded official torch checkpoint.

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


SOURCE_FORMATS: Dict[str, SourceFormat] = {
    'torch': SourceFormat(load_torch_checkpoint, extract_official_state_dict,
                          'backbone keys'),
    'pdparams': SourceFormat(load_pdparams, lambda arrays: (arrays, []),
                             'arrays'),
}


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


@dataclass
class Conversion:
    """A converted checkpoint before it is checked and written.

    Attributes:
        official (dict): The official backbone weights.
        skipped (list[str]): Keys of a dense-prediction model's other parts.
        result (ConversionResult): The converted tensors.
        kwargs (dict): The backbone's keyword arguments (``infer_arch``).
        name (str | None): Canonical ``arch_zoo`` name, None if custom.
    """
    official: Dict[str, Any]
    skipped: List[str]
    result: ConversionResult
    kwargs: Dict[str, Any]
    name: Any


def convert_file(spec: ConverterSpec, src: str,
                 trust: bool = False) -> Conversion:
    """Load ``src`` safely and convert its backbone weights by ``spec``.

    Raises:
        UnsafeCheckpointError: The file is refused (unless ``trust``).
        CorruptCheckpointError: The file cannot be read.
        UnrecognizedCheckpointError: It holds no weights of the family.
        FileNotFoundError: There is no file ``src``.
    """
    if not os.path.isfile(src):
        raise FileNotFoundError(f'{src}: no such file')
    source = SOURCE_FORMATS[spec.source_format]
    try:
        official, skipped = source.extract(source.load(src, trust))
        result = convert_state_dict(spec, official)
        kwargs = spec.infer_arch(result.state_dict)
    except KeyError as error:
        raise UnrecognizedCheckpointError(f'{src}: {error.args[0]}') from None
    return Conversion(official, skipped, result, kwargs,
                      spec.arch_name(kwargs['arch']))


@dataclass
class ConversionReport:
    """What :func:`convert_checkpoint` did.

    Attributes:
        lines (list[str]): The report, one line each.
        clean (bool): The converted weights load strictly into the model.
    """
    lines: List[str]
    clean: bool


def _listing(title: str, keys: Sequence[str]) -> List[str]:
    """``title: none`` or the title and one indented line per key."""
    if not keys:
        return [f'{title}: none']
    return [f'{title} ({len(keys)}):'] + [f'  {key}' for key in keys]


def convert_checkpoint(spec: ConverterSpec,
                       src: str,
                       dst: str,
                       trust: bool = False) -> ConversionReport:
    """Convert the authors' checkpoint ``src`` to ``dst`` for our backbone.

    Runs :func:`convert_file`, builds ``spec.backbone`` for the inferred
    architecture, compares the converted keys with it, writes
    ``{'state_dict': ..., 'meta': ...}`` with bare backbone keys (ready for
    ``init_cfg=dict(type='Pretrained', checkpoint=dst)``) and reports. The
    file is written even when keys are missing or unexpected, and the report
    says so; nothing is written when the source is refused.

    Raises:
        UnsafeCheckpointError: The file is refused (unless ``trust``).
        CorruptCheckpointError: The file cannot be read.
        UnrecognizedCheckpointError: It holds no weights of the family.
    """
    conversion = convert_file(spec, src, trust)
    result, kwargs = conversion.result, conversion.kwargs
    model = spec.backbone(**kwargs, **spec.model_kwargs)
    problems = compare_with_model(result.state_dict, model)
    problems['unexpected'] = sorted(result.unexpected + problems['unexpected'])
    # A family whose arch is its only argument reports the arch alone.
    arch = kwargs['arch'] if list(kwargs) == ['arch'] else kwargs
    source = SOURCE_FORMATS[spec.source_format]
    dropped = Counter(spec.dropped_label(key) for key in result.dropped)
    skipped = conversion.skipped
    lines = [
        f'Source: {src} ({len(conversion.official)} {source.counted_as})',
        'Architecture: '
        f'{conversion.name or "custom (no arch_zoo entry)"}: {arch}',
        f'Converted: {len(result.state_dict)} tensors',
        'Dropped (not used by a backbone): ' +
        (', '.join(f'{label} x{n}' for label, n in dropped.items())
         or 'none'),
        *spec.notes,
        *([f'Skipped: {len(skipped)} keys of the neck/heads of a '
           'dense-prediction model (only the backbone is converted)']
          if skipped else []),
    ]
    lines += _listing('Unexpected keys, not written', problems['unexpected'])
    lines += _listing('Missing keys (the model needs them)',
                      problems['missing'])
    lines += _listing('Shape mismatches', problems['mismatched'])
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    meta = dict(converted_from=os.path.basename(src),
                arch=conversion.name or '')
    torch.save(dict(state_dict=result.state_dict, meta=meta), dst)
    clean = not any(problems.values())
    lines.append(f'Written: {dst}' + (
        f"; use init_cfg=dict(type='Pretrained', checkpoint='{dst}')"
        if clean else ' (INCOMPLETE: see above)'))
    return ConversionReport(lines, clean)
