"""Code shared by the command-line tools in ``tools/``.

* :mod:`.runner`: config loading and Runner setup for ``tools/train.py`` and
  ``tools/test.py``.
* :mod:`.convert`: the command line of ``tools/model_converters/*2mmvit.py``.

What is here may end the program with an ``error: ...`` line; the library
(``mmvit_backbones.models``, ``mmvit_backbones.analysis``) imports nothing
from it.
"""
