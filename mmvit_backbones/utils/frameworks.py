"""The OpenMMLab frameworks as optional dependencies.

The backbones need only torch, mmengine and mmcv; MMDetection,
MMSegmentation and MMPretrain are the extras ``[det]``, ``[seg]`` and
``[pretrain]`` (``[all]`` for the three). Code that uses one of them calls
:func:`require_framework` first, so that a missing one is reported in one line
that names the extra to install, where it is used, and nowhere else.
"""
import importlib
from types import ModuleType

#: Importable name -> (distribution on PyPI, extra of mmvit_backbones).
FRAMEWORKS = {
    'mmdet': ('mmdet', 'det'),
    'mmseg': ('mmsegmentation', 'seg'),
    'mmpretrain': ('mmpretrain', 'pretrain'),
}


class MissingFrameworkError(ImportError):
    """An OpenMMLab framework that the calling code needs is not installed."""


def missing_framework_message(name: str, needed_by: str) -> str:
    """One line: what needs framework ``name`` and how to install it."""
    distribution, extra = FRAMEWORKS[name]
    return (f'{needed_by} needs {distribution}, which is not installed: '
            f"pip install 'mmvit_backbones[{extra}]' (or '[all]')")


def require_framework(name: str, needed_by: str) -> ModuleType:
    """Import framework ``name`` ('mmdet', 'mmseg' or 'mmpretrain').

    Args:
        name: The framework's import name, a key of :data:`FRAMEWORKS`.
        needed_by: What needs it, for the message (a module, a config).

    Raises:
        MissingFrameworkError: The framework is not installed. An
            ImportError from inside an installed framework propagates as it
            is.
    """
    if name not in FRAMEWORKS:
        raise ValueError(f'name must be one of {sorted(FRAMEWORKS)}, '
                         f'got {name!r}')
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        raise MissingFrameworkError(
            missing_framework_message(name, needed_by)) from None
