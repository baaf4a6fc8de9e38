from .maformer import MAFormer

__all__ = ['MAFormer']
