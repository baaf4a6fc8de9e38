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
missing, refused or holds no Focal Transformer weights.
"""
import sys
from typing import List, Optional

from mmvit_backbones.cli import convert


def main(argv: Optional[List[str]] = None) -> int:
    """Convert SRC to DST, print the report, return the exit status."""
    return convert.main('focal', __doc__.split('\n\n')[0], argv)


if __name__ == '__main__':
    sys.exit(main())
