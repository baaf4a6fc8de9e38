"""Vision-transformer backbones for the OpenMMLab stack.

Importing the package registers every backbone in MMEngine's root ``MODELS``
registry, so mmdet, mmseg and mmpretrain configs build them by bare name
through ``custom_imports=dict(imports=['mmvit_backbones'])``, and allow-lists
the few MMEngine types that its checkpoints hold, so that ``torch.load``'s
safe mode (``weights_only=True``, torch's default) reads them for ``--resume``
and ``load_from`` in mmdet's, mmseg's and mmpretrain's own tools. It changes
nothing else.
"""
from .models import *  # noqa: F401,F403
from .checkpoint import register_checkpoint_safe_globals
from .version import __version__

register_checkpoint_safe_globals()

__all__ = ['__version__']
