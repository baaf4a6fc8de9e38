"""Convert the authors' MixFormer checkpoints (PaddlePaddle ``.pdparams``).

Example::

    python tools/model_converters/mixformer2mmvit.py \\
        MixFormer_B4_pretrained.pdparams checkpoints/mixformer-b4_mmvit.pth

Reads the file without PaddlePaddle (a pickle of numpy arrays, unpickled
with an allow-list of numpy types), drops ``StructuredToParameterName@@``,
``attn.relative_position_index``, the final ``norm``, ``last_proj`` and
``head``, transposes Linear weights ([in, out] -> [out, in]), reshapes the
1x1 convolutions to our Linear layers, renames BatchNorm ``_mean`` /
``_variance`` to ``running_mean`` / ``running_var``, infers the architecture
from the shapes and checks that the result loads strictly into it. Prints a
report of dropped, unexpected and missing keys. The output holds
``{'state_dict': ..., 'meta': ...}`` with bare backbone keys (no prefix),
ready for ``init_cfg=dict(type='Pretrained', checkpoint=DST)``.

Exit status: 0 when the result loads strictly, 1 when keys are unexpected,
missing or mismatched (the file is still written), 2 when the source is
refused or holds no MixFormer weights.
"""
import argparse
import os
import sys
from collections import Counter
from typing import List, Optional

import torch

import mmvit_backbones  # noqa: F401  (torchvision shim, registries)
from mmvit_backbones.models.backbones.mixformer import MixFormer
from mmvit_backbones.models.backbones.mixformer_convert import (
    UnsafePickleError, arch_name, compare_with_model,
    convert_mixformer_state_dict, dropped_reason, infer_arch, load_pdparams)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help="the authors' checkpoint (.pdparams)")
    parser.add_argument('dst', help='output file for mmvit_backbones')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='unpickle SRC without the numpy-only allow-list; only for files '
        'from a trusted source')
    return parser.parse_args(argv)


def _listing(title: str, keys: List[str]) -> List[str]:
    """``title: none`` or the title and one indented line per key."""
    if not keys:
        return [f'{title}: none']
    return [f'{title} ({len(keys)}):'] + [f'  {key}' for key in keys]


def _dropped_summary(keys: List[str]) -> str:
    """Dropped keys counted per rule, e.g. ``head x2, last_proj x2``."""
    counts = Counter(dropped_reason(key) for key in keys)
    return ', '.join(f'{label} x{n}' for label, n in counts.items())


def convert(args: argparse.Namespace) -> int:
    """Convert ``args.src`` to ``args.dst``, print the report, return the
    exit status."""
    try:
        official = load_pdparams(args.src, args.trust_checkpoint)
        result = convert_mixformer_state_dict(official)
        arch = infer_arch(result.state_dict)
    except UnsafePickleError as error:
        print(f'{args.src}: {error}\nRerun with --trust-checkpoint if you '
              'trust where the file comes from.', file=sys.stderr)
        return 2
    except KeyError as error:
        print(f'{args.src}: {error.args[0]}', file=sys.stderr)
        return 2
    name = arch_name(arch)
    problems = compare_with_model(result.state_dict, MixFormer(arch))
    problems['unexpected'] = sorted(result.unexpected + problems['unexpected'])
    lines = [
        f'Source: {args.src} ({len(official)} arrays)',
        f'Architecture: {name or "custom (no arch_zoo entry)"}: {arch}',
        f'Converted: {len(result.state_dict)} tensors',
        'Dropped (not used by a backbone): ' +
        (_dropped_summary(result.dropped) or 'none'),
    ]
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
