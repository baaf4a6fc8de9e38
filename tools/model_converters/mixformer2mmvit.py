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
missing, refused or holds no MixFormer weights.
"""
import sys
from typing import List, Optional

from mmvit_backbones.cli import convert


def main(argv: Optional[List[str]] = None) -> int:
    """Convert SRC to DST, print the report, return the exit status."""
    return convert.main('mixformer', __doc__.split('\n\n')[0], argv)


if __name__ == '__main__':
    sys.exit(main())
