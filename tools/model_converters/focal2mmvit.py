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
import sys
from typing import List, Optional

import mmvit_backbones  # noqa: F401  (registries)
from mmvit_backbones.models.backbones.focal import FocalTransformer
from mmvit_backbones.models.backbones.focal_convert import (
    arch_name, convert_focal_state_dict, dropped_reason, infer_arch)
from mmvit_backbones.utils.conversion import (TORCH_TRUST_HELP,
                                              convert_torch_checkpoint,
                                              converter_arg_parser,
                                              save_and_report, skipped_notes)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    return converter_arg_parser(__doc__, "the authors' checkpoint (.pth)",
                                TORCH_TRUST_HELP).parse_args(argv)


def convert(args: argparse.Namespace) -> int:
    """Convert ``args.src`` to ``args.dst``, print the report, return the
    exit status."""
    converted = convert_torch_checkpoint(args.src, args.trust_checkpoint,
                                         convert_focal_state_dict, infer_arch)
    if converted is None:
        return 2
    official, skipped, result, settings = converted
    name = arch_name(settings['arch'])
    header = [
        f'Source: {args.src} ({len(official)} backbone keys)',
        f'Architecture: {name or "custom (no arch_zoo entry)"}: {settings}',
    ]
    notes = [
        'Output norms norm0-norm2 are not in classification checkpoints: '
        'dense models initialise them'
    ] + skipped_notes(skipped)
    # Only the stage-4 output norm has weights (the classifier's final norm).
    model = FocalTransformer(**settings, out_indices=(3, ))
    return save_and_report(args.src, args.dst, result, model, name, header,
                           dropped_reason, notes)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point."""
    return convert(parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
