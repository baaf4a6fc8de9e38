from typing import Tuple

import torch
from mmcv.cnn import build_norm_layer
from torch import nn

from .conv import Conv2d
from .symbolic import is_symbolic


class ConvEmbed(nn.Module):
    """Strided convolution followed by a norm, returning tokens.

    Used as the patch-embedding stem and as the patch-merging layer between
    stages. With ``padding = kernel_size // 2`` and odd kernels the output is
    ceil(H / stride) x ceil(W / stride) for any input size.

    Args:
        in_channels (int): Input channels.
        embed_dims (int): Output channels C.
        kernel_size (int): Convolution kernel size.
        stride (int): Down-sampling factor.
        norm_cfg (dict): Norm applied to the tokens.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 kernel_size: int,
                 stride: int,
                 norm_cfg: dict = dict(type='LN')):
        super().__init__()
        self.projection = Conv2d(
            in_channels,
            embed_dims,
            kernel_size,
            stride=stride,
            padding=kernel_size // 2)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """x: (B, C_in, H, W) -> tokens (B, H' * W', C) and (H', W')."""
        x = self.projection(x)
        hw = x.shape[2:]
        return self.norm(x.flatten(2).transpose(1, 2)), tuple(hw)


def contiguous_if_symbolic(x: torch.Tensor) -> torch.Tensor:
    """``x.contiguous()`` (a contiguous NCHW copy of a channels-last view)
    if its sizes are symbolic (:func:`is_symbolic`), else ``x``.

    For views that an operation keeps for its backward (a convolution's or
    a pooling's input): with symbolic sizes, Inductor (torch 2.13) fails to
    order the strides of such a view ("cannot determine truth value of
    Relational", pytorch#185510). A copy with the view's own strides would
    not do: Inductor removes it as a no-op.
    """
    return x.contiguous() if is_symbolic(x) else x


def tokens_to_map(x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
    """(B, H * W, C) -> (B, C, H, W): a view in channels-last memory format,
    for symbolic sizes a contiguous copy (:func:`contiguous_if_symbolic`).

    Convolutions, pooling and interpolation accept it as it is; call
    ``.contiguous()`` where a contiguous NCHW tensor is required.
    """
    B, L, C = x.shape
    return contiguous_if_symbolic(x.view(B, *hw, C).permute(0, 3, 1, 2))
