from .crossformer import CrossFormer
from .maformer import MAFormer
from .mixformer import MixFormer  # noqa: F401

__all__ = ['CrossFormer', 'MAFormer']
