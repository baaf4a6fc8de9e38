"""Decide whether mmcv's compiled ops are built for CUDA or for the CPU only.

mmcv's ``setup.py`` takes its CUDA path whenever ``FORCE_CUDA=1`` (or torch
sees a GPU), and then needs both a CUDA build of torch and a CUDA toolkit.
A toolkit alone is not enough: with a CPU torch the CUDA build dies at once
("CUDA_HOME environment variable is not set"). So the installed torch decides,
and the toolkit is looked up the way torch's extension builder does
(``CUDA_HOME``, then ``CUDA_PATH``, then ``nvcc`` on ``PATH``).

Run with the Python that will build mmcv::

    python tools/misc/mmcv_ops_mode.py   # prints 'cuda' or 'cpu'

The reason goes to stderr as one line, e.g. ``mmcv ops: cpu (torch
2.13.0+cpu is a CPU build; the CUDA toolkit at /usr/local/cuda-13.0 is not
used)``.
"""
import os
import shutil
import sys
from pathlib import Path
from typing import Mapping, Optional, Tuple


def find_cuda_toolkit(environ: Mapping[str, str]) -> Optional[str]:
    """The CUDA toolkit's root: ``CUDA_HOME``, ``CUDA_PATH``, or the folder
    above ``bin/nvcc`` found on ``PATH``; None if there is none."""
    for name in ('CUDA_HOME', 'CUDA_PATH'):
        home = environ.get(name)
        if home:
            return home if (Path(home) / 'bin' / 'nvcc').exists() else None
    nvcc = shutil.which('nvcc', path=environ.get('PATH', ''))
    if nvcc is None:
        return None
    return str(Path(os.path.realpath(nvcc)).parent.parent)


def decide(torch_version: str, torch_cuda: Optional[str],
           toolkit: Optional[str]) -> Tuple[str, str]:
    """``('cuda' | 'cpu', reason)`` for a torch ``torch_version`` built
    against CUDA ``torch_cuda`` (None for a CPU build) and a toolkit root
    ``toolkit`` (None if none was found)."""
    if torch_cuda is None:
        if toolkit is None:
            return 'cpu', f'torch {torch_version} is a CPU build'
        return 'cpu', (f'torch {torch_version} is a CPU build; the CUDA '
                       f'toolkit at {toolkit} is not used')
    if toolkit is None:
        return 'cpu', (f'torch {torch_version} is built for CUDA '
                       f'{torch_cuda} but no CUDA toolkit was found (set '
                       f'CUDA_HOME or put nvcc on PATH for the CUDA ops)')
    return 'cuda', (f'torch {torch_version} is built for CUDA {torch_cuda} '
                    f'and the CUDA toolkit is at {toolkit}')


def main() -> int:
    try:
        import torch
    except ImportError:
        print('mmcv ops: torch is not installed in this Python '
              f'({sys.executable}); install torch before mmcv',
              file=sys.stderr)
        return 1
    mode, reason = decide(torch.__version__, torch.version.cuda,
                          find_cuda_toolkit(os.environ))
    print(f'mmcv ops: {mode} ({reason})', file=sys.stderr)
    print(mode)
    return 0


if __name__ == '__main__':
    sys.exit(main())
