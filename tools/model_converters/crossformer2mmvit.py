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
missing, refused or holds no CrossFormer weights.
"""

import argparse
import sys
from typing import List, Optional

from mmvit_backbones.checkpoint import (CorruptCheckpointError,
                                        UnsafeCheckpointError)
from mmvit_backbones.converters import (CONVERTERS,
                                        UnrecognizedCheckpointError,
                                        convert_checkpoint)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help="the authors' checkpoint (.pth)")
    parser.add_argument('dst', help='output file for mmvit_backbones')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help=('unpickle SRC with weights_only=False (training '
              'checkpoints pickle their config); only for files from a '
              'trusted source'))
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Convert SRC to DST, print the report, return the exit status."""
    args = parse_args(argv)
    try:
        report = convert_checkpoint(CONVERTERS['crossformer'], args.src,
                                    args.dst, args.trust_checkpoint)
    except UnsafeCheckpointError as error:
        print(f'{error}\nOr rerun with --trust-checkpoint if you trust where '
              'the file comes from.', file=sys.stderr)
        return 2
    except (CorruptCheckpointError, UnrecognizedCheckpointError,
            FileNotFoundError) as error:
        print(error, file=sys.stderr)
        return 2
    print('\n'.join(report.lines))
    return 0 if report.clean else 1


if __name__ == '__main__':
    sys.exit(main())
