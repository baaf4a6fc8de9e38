"""Convert the authors' Focal Transformer checkpoints.

Example::

    python tools/model_converters/focal2mmvit.py \\
        focal-tiny-is224.pth checkpoints/focal-t_mmvit.pth

Reads a bare state dict or the one under ``model`` (the authors'
classification files), renames the keys for ``mmvit_backbones``'
``FocalTransformer``, drops the stored index buffers
(``relative_position_index``, ``valid_ind_rolled``,
``relative_position_index_0``) and the classifier ``head``, maps the final
``norm`` to the stage-4 output norm ``norm3``, infers the architecture from
the tensor shapes and checks that the result loads strictly into it. Prints
a report of dropped, unexpected and missing keys. The output holds
``{'state_dict': ..., 'meta': ...}`` with bare backbone keys (no prefix),
ready for ``init_cfg=dict(type='Pretrained', checkpoint=DST)``; models with
other focal region sizes resize the pooled-level tables when loading it.

Exit status: 0 when the result loads strictly, 1 when keys are unexpected,
missing or mismatched (the file is still written), 2 when the source is
refused or holds no Focal Transformer weights.
"""
import argparse
import os
import sys
from collections import Counter
from typing import List, Optional

import torch

import mmvit_backbones  # noqa: F401  (torchvision shim, registries)
from mmvit_backbones.models.backbones.focal import FocalTransformer
from mmvit_backbones.models.backbones.focal_convert import (
    arch_name, convert_focal_state_dict, dropped_reason, infer_arch)
from mmvit_backbones.utils.checkpoint import (UnsafeCheckpointError,
                                              refuse_unsafe_checkpoints)
from mmvit_backbones.utils.conversion import (compare_with_model,
                                              extract_official_state_dict)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help="the authors' checkpoint (.pth)")
    parser.add_argument('dst', help='output file for mmvit_backbones')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='unpickle SRC with weights_only=False (training checkpoints '
        'pickle their config); only for files from a trusted source')
    return parser.parse_args(argv)


def load_official(path: str, trust: bool) -> dict:
    """``torch.load`` on CPU, weights-only unless ``trust``."""
    with refuse_unsafe_checkpoints(path):
        return torch.load(path, map_location='cpu', weights_only=not trust)


def _listing(title: str, keys: List[str]) -> List[str]:
    """``title: none`` or the title and one indented line per key."""
    if not keys:
        return [f'{title}: none']
    return [f'{title} ({len(keys)}):'] + [f'  {key}' for key in keys]


def _dropped_summary(keys: List[str]) -> str:
    """Dropped keys counted per rule, e.g. ``head x2``."""
    counts = Counter(dropped_reason(key) for key in keys)
    return ', '.join(f'{label} x{n}' for label, n in counts.items())


def convert(args: argparse.Namespace) -> int:
    """Convert ``args.src`` to ``args.dst``, print the report, return the
    exit status."""
    try:
        checkpoint = load_official(args.src, args.trust_checkpoint)
        official, others = extract_official_state_dict(checkpoint)
        result = convert_focal_state_dict(official)
        settings = infer_arch(result.state_dict)
    except UnsafeCheckpointError as error:
        print(f'{error}\nOr rerun with --trust-checkpoint if you trust where '
              'the file comes from.', file=sys.stderr)
        return 2
    except KeyError as error:
        print(f'{args.src}: {error.args[0]}', file=sys.stderr)
        return 2
    name = arch_name(settings['arch'])
    # Only the stage-4 output norm has weights (the classifier's final norm).
    model = FocalTransformer(**settings, out_indices=(3, ))
    problems = compare_with_model(result.state_dict, model)
    problems['unexpected'] = sorted(result.unexpected + problems['unexpected'])
    lines = [
        f'Source: {args.src} ({len(official)} backbone keys)',
        f'Architecture: {name or "custom (no arch_zoo entry)"}: {settings}',
        f'Converted: {len(result.state_dict)} tensors',
        'Dropped (not used by a backbone): ' +
        (_dropped_summary(result.dropped) or 'none'),
        'Output norms norm0-norm2 are not in classification checkpoints: '
        'dense models initialise them',
    ]
    if others:
        lines.append(f'Skipped: {len(others)} keys of the neck/heads of a '
                     'dense-prediction model (only the backbone is converted)')
    lines += _listing('Unexpected keys, not written', problems['unexpected'])
    lines += _listing('Missing keys (the model needs them)',
                      problems['missing'])
    lines += _listing('Shape mismatches', problems['mismatched'])
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    meta = dict(converted_from=os.path.basename(args.src), arch=name or '')
    torch.save(dict(state_dict=result.state_dict, meta=meta), args.dst)
    clean = not any(problems.values())
    lines.append(f'Written: {args.dst}' + (
        f"; use init_cfg=dict(type='Pretrained', checkpoint='{args.dst}')"
        if clean else ' (INCOMPLETE: see above)'))
    print('\n'.join(lines))
    return 0 if clean else 1


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point."""
    return convert(parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
