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
import sys
from typing import List, Optional

import mmvit_backbones  # noqa: F401  (registries)
from mmvit_backbones.models.backbones.mixformer import MixFormer
from mmvit_backbones.models.backbones.mixformer_convert import (
    UnsafePickleError, arch_name, convert_mixformer_state_dict,
    dropped_reason, infer_arch, load_pdparams)
from mmvit_backbones.utils.checkpoint import CorruptCheckpointError
from mmvit_backbones.utils.conversion import (converter_arg_parser,
                                              save_and_report)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    return converter_arg_parser(
        __doc__, "the authors' checkpoint (.pdparams)",
        'unpickle SRC without the numpy-only allow-list; only for files from '
        'a trusted source').parse_args(argv)


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
    except CorruptCheckpointError as error:
        print(error, file=sys.stderr)
        return 2
    except KeyError as error:
        print(f'{args.src}: {error.args[0]}', file=sys.stderr)
        return 2
    name = arch_name(arch)
    header = [
        f'Source: {args.src} ({len(official)} arrays)',
        f'Architecture: {name or "custom (no arch_zoo entry)"}: {arch}',
    ]
    return save_and_report(args.src, args.dst, result, MixFormer(arch), name,
                           header, dropped_reason)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point."""
    return convert(parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
