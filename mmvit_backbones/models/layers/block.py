from mmcv.cnn import build_norm_layer
from torch import nn

from .drop_path import DropPath
from .mlp import Mlp


class PreNormBlock(nn.Module):
    """Pre-norm transformer block around a token mixer (ViT/Swin layout)::

        x = x + DropPath(attn(norm1(x), *args))
        x = x + DropPath(mlp(norm2(x)))

    The families differ only in the mixer, which their block classes build and
    pass in; the parameter names (``norm1``, ``attn``, ``norm2``, ``mlp``)
    are those of every reference checkpoint.

    Args:
        embed_dims (int): Channels C of the (..., C) tokens.
        attn (nn.Module): Token mixer, called as ``attn(tokens, *args)``.
        mlp_ratio (float): MLP hidden / input channels.
        drop (float): Dropout in the MLP.
        drop_path (float): Stochastic depth rate of both residual branches.
        norm_cfg (dict): The two norms.
    """

    def __init__(self,
                 embed_dims: int,
                 attn: nn.Module,
                 mlp_ratio: float = 4.,
                 drop: float = 0.,
                 drop_path: float = 0.,
                 norm_cfg: dict = dict(type='LN')):
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = attn
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio), drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, x, *args):
        """x: (..., C) -> (..., C); ``args`` go to the mixer (e.g. ``hw``)."""
        x = self.drop_path.add_branch(x, self.attn(self.norm1(x), *args))
        return self.drop_path.add_branch(x, self.mlp(self.norm2(x)))
