from .crossformer import CrossFormer
from .focal import FocalTransformer  # noqa: F401
from .maformer import MAFormer
from .mixformer import MixFormer  # noqa: F401

__all__ = ['CrossFormer', 'MAFormer']
