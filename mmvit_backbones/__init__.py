"""Vision-transformer backbones for the OpenMMLab stack.

Importing the package registers every backbone in MMEngine's root ``MODELS``
registry, so mmdet, mmseg and mmpretrain configs build them by bare name
through ``custom_imports=dict(imports=['mmvit_backbones'])``.
"""
from .compat import ensure_torchvision_importable

ensure_torchvision_importable()  # before anything can import torchvision

from .models import *  # noqa: E402,F401,F403
from .utils import register_checkpoint_safe_globals  # noqa: E402
from .version import __version__  # noqa: E402

register_checkpoint_safe_globals()

__all__ = ['__version__']
