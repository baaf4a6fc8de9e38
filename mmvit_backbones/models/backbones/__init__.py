from .crossformer import CrossFormer
from .focal import FocalTransformer
from .maformer import MAFormer
from .mixformer import MixFormer

__all__ = ['CrossFormer', 'FocalTransformer', 'MAFormer', 'MixFormer']
