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
import sys
from typing import List, Optional

from mmvit_backbones.cli import convert


def main(argv: Optional[List[str]] = None) -> int:
    """Convert SRC to DST, print the report, return the exit status."""
    return convert.main('crossformer', __doc__.split('\n\n')[0], argv)


if __name__ == '__main__':
    sys.exit(main())
