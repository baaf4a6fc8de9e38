"""Convert the authors' CrossFormer / CrossFormer++ checkpoints.

Example::

    python tools/model_converters/crossformer2mmvit.py \\
        crossformer-s.pth checkpoints/crossformer-s_mmvit.pth

Reads the weights under ``model`` (classification files of both code
generations) or the ``backbone.`` part of ``state_dict`` (the first
generation's detection/segmentation files), renames them for
``mmvit_backbones``' ``CrossFormer``, drops ``attn.biases``,
``attn.relative_position_index``, ``head`` and the final ``norm``, infers the
architecture from the tensor shapes and checks that the result loads strictly
into it. Prints a report of dropped, unexpected and missing keys. The output
holds ``{'state_dict': ..., 'meta': ...}`` with bare backbone keys (no
prefix), ready for ``init_cfg=dict(type='Pretrained', checkpoint=DST)``.

Exit status: 0 when the result loads strictly, 1 when keys are unexpected,
missing or mismatched (the file is still written), 2 when the source is
refused or holds no CrossFormer weights.
"""
import argparse
import sys
from typing import List, Optional

import mmvit_backbones  # noqa: F401  (registries)
from mmvit_backbones.models.backbones.crossformer import CrossFormer
from mmvit_backbones.models.backbones.crossformer_convert import (
    arch_name, convert_crossformer_state_dict, dropped_reason, infer_arch)
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
                                         convert_crossformer_state_dict,
                                         infer_arch)
    if converted is None:
        return 2
    official, skipped, result, arch = converted
    name = arch_name(arch)
    header = [
        f'Source: {args.src} ({len(official)} backbone keys)',
        f'Architecture: {name or "custom (no arch_zoo entry)"}: {arch}',
    ]
    return save_and_report(args.src, args.dst, result, CrossFormer(arch), name,
                           header, dropped_reason, skipped_notes(skipped))


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point."""
    return convert(parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
