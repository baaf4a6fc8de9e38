from .crossformer import CrossFormer
from .maformer import MAFormer

__all__ = ['CrossFormer', 'MAFormer']
