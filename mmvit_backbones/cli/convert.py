"""The command line shared by ``tools/model_converters/*2mmvit.py``.

Each tool keeps its own docstring (the help text) and calls :func:`main`
with its family's name; the flags, the printing and the exit status are the
same for every family:

- 0: the converted weights load strictly into the inferred backbone;
- 1: keys are unexpected, missing or mismatched (the file is still written);
- 2: the source is missing, refused or holds no weights of the family
  (nothing is written).
"""
import argparse
import sys
from typing import List, Optional

from ..checkpoint import CorruptCheckpointError, UnsafeCheckpointError
from ..converters import (CONVERTERS, UnrecognizedCheckpointError,
                          convert_checkpoint)

# Per source format: what SRC is, what --trust-checkpoint does, and the
# line printed after a refusal.
SOURCE_HELP = {
    'torch': dict(
        src="the authors' checkpoint (.pth)",
        trust=('unpickle SRC with weights_only=False (training checkpoints '
               'pickle their config); only for files from a trusted '
               'source'),
        refused='Or rerun with --trust-checkpoint if you trust where the '
        'file comes from.'),
    'pdparams': dict(
        src="the authors' checkpoint (.pdparams)",
        trust=('unpickle SRC without the numpy-only allow-list; only for '
               'files from a trusted source'),
        refused='Rerun with --trust-checkpoint if you trust where the file '
        'comes from.'),
}


def main(family: str, description: str,
         argv: Optional[List[str]] = None) -> int:
    """Convert SRC to DST with the spec of ``family`` (a key of
    ``CONVERTERS``), print the report, return the exit status."""
    spec = CONVERTERS[family]
    help_text = SOURCE_HELP[spec.source_format]
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help=help_text['src'])
    parser.add_argument('dst', help='output file for mmvit_backbones')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help=help_text['trust'])
    args = parser.parse_args(argv)
    try:
        report = convert_checkpoint(spec, args.src, args.dst,
                                    args.trust_checkpoint)
    except UnsafeCheckpointError as error:
        print(f'{error}\n{help_text["refused"]}', file=sys.stderr)
        return 2
    except (CorruptCheckpointError, UnrecognizedCheckpointError,
            FileNotFoundError) as error:
        print(error, file=sys.stderr)
        return 2
    print('\n'.join(report.lines))
    return 0 if report.clean else 1
