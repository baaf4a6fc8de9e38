"""Count parameters and FLOPs of a detector/segmentor config or a backbone.

Examples::

    # whole model (mmdet or mmseg config), input padded like at test time
    python tools/analysis_tools/get_flops.py CONFIG --shape 800 1344
    # bare backbone
    python tools/analysis_tools/get_flops.py \\
        --backbone 'dict(type="MAFormer", arch="s")' --shape 224

FLOPs count one multiply-add as one FLOP (the convention of papers and
fvcore); see mmvit_backbones/analysis/ for the counting rules.
"""
import argparse
from typing import List, Optional

from mmengine.config import DictAction

import mmvit_backbones  # noqa: F401  (registers this package's backbones)
from mmvit_backbones.analysis import (BackboneSpecError, ComplexityResult,
                                     backbone_complexity,
                                     build_backbone_from_spec,
                                     model_complexity)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', nargs='?',
                        help='detector or segmentor config file')
    parser.add_argument(
        '--backbone',
        help='count a bare backbone instead: a preset (swin-t), TYPE:ARCH '
        '(MAFormer:s) or a dict expression (\'dict(type="MAFormer", '
        'arch="s")\')')
    parser.add_argument('--shape', type=int, nargs='+', default=[224],
                        help='input H [W] (default 224)')
    parser.add_argument('--batch', type=int, default=1,
                        help='backbone input batch size (default 1)')
    parser.add_argument('--scope', default='mmdet',
                        help='registry scope for --backbone (default mmdet)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings, key=value (applied to the config, or to '
        'the backbone dict with --backbone)')
    parser.add_argument('--by-operator', action='store_true',
                        help='also print FLOPs per operator')
    args = parser.parse_args(argv)
    if (args.config is None) == (args.backbone is None):
        parser.error('give either CONFIG or --backbone (exactly one)')
    if len(args.shape) not in (1, 2) or min(args.shape) < 1:
        parser.error('--shape takes H or H W, positive')
    if args.batch < 1:
        parser.error('--batch must be >= 1')
    return args


def count(args: argparse.Namespace) -> ComplexityResult:
    """Run the count the arguments ask for."""
    if args.config is not None:
        return model_complexity(args.config, args.shape, args.cfg_options)
    try:
        model = build_backbone_from_spec(args.backbone, args.scope,
                                         args.cfg_options)
    except BackboneSpecError as error:
        raise SystemExit(f'error: --backbone {error}') from None
    return backbone_complexity(model, args.shape, batch=args.batch)


def format_report(result: ComplexityResult, by_operator: bool) -> str:
    """Human-readable report of ``result``, warnings included."""
    lines = [
        '=' * 60,
        f'Input shape: {tuple(result.input_shape)}',
        f'Params: {result.params / 1e6:.2f} M',
        f'FLOPs: {result.flops / 1e9:.3f} G  (1 multiply-add = 1 FLOP)',
    ]
    lines += [f'Note: {note}' for note in result.notes]
    if by_operator:
        lines.append('FLOPs by operator:')
        lines += [
            f'  {op:<32}{flops / 1e9:10.3f} G'
            for op, flops in result.flops_by_operator.items()
        ]
    significant = result.significant_uncounted_ops
    if significant:
        lines.append('WARNING: these ops are not counted and may not be '
                     'negligible: ' + _calls(significant))
    cheap = {
        op: n
        for op, n in result.uncounted_ops.items() if op not in significant
    }
    if cheap:
        lines.append('Not counted by convention (elementwise, pooling, '
                     'reductions): ' + _calls(cheap))
    lines.append('=' * 60)
    return '\n'.join(lines)


def _calls(ops: dict) -> str:
    """``op (xN), ...`` for a mapping of op name to number of calls."""
    return ', '.join(f'{op} (x{n})' for op, n in ops.items())


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point: count and print."""
    args = parse_args(argv)
    print(format_report(count(args), args.by_operator))


if __name__ == '__main__':
    main()
