from typing import Tuple

import torch
from mmengine.model.weight_init import trunc_normal_
from torch import nn


class RelativePositionBias(nn.Module):
    """Learned relative-position bias of a window (Swin, Liu et al. 2021).

    One value per head for each of the (2 wh - 1)(2 ww - 1) relative offsets;
    the index map from token pairs to offsets is a non-persistent buffer built
    once.

    Args:
        window (tuple[int, int]): Window size (wh, ww).
        num_heads (int): Attention heads.
    """

    def __init__(self, window: Tuple[int, int], num_heads: int):
        super().__init__()
        wh, ww = window
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        trunc_normal_(self.relative_position_bias_table, std=.02)
        coords = torch.stack(
            torch.meshgrid(
                torch.arange(wh), torch.arange(ww), indexing='ij')).flatten(1)
        rel = coords[:, :, None] - coords[:, None, :]
        index = (rel[0] + wh - 1) * (2 * ww - 1) + rel[1] + ww - 1
        self.register_buffer('index', index, persistent=False)

    def forward(self) -> torch.Tensor:
        """-> (heads, wh * ww, wh * ww)."""
        return self.relative_position_bias_table[self.index].permute(2, 0, 1)
