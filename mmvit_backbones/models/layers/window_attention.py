from typing import Tuple

import torch
from torch import nn

from .attention import attend, check_heads, merge_heads
from .cache import size_cache
from .position import RelativePositionBias
from .window import (crop_tokens, needs_padding, pad_to_multiple,
                     window_partition, window_reverse)


class ShiftedWindowAttention(nn.Module):
    """(Shifted-)window multi-head self-attention (Swin, Liu et al. 2021).

    The map is zero-padded to a multiple of the window, optionally rolled by
    ``shift``, and attention runs inside each window with a learned relative
    position bias. Padded keys and keys from other regions of a rolled window
    are masked out, so the result for a map does not depend on how much
    padding it needed. Masks are cached per map size (:mod:`.cache`).

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads.
        window_size (int): Square window side.
        shift (bool): Roll the map by half a window before partitioning.
        qkv_bias (bool): Bias in the q/k/v projection.
        attn_drop (float): Dropout on the attention weights.
        proj_drop (float): Dropout after the output projection.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int = 7,
                 shift: bool = False,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.):
        super().__init__()
        check_heads(embed_dims, num_heads)
        self.num_heads = num_heads
        self.window = (window_size, window_size)
        self.shift = window_size // 2 if shift else 0
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.position_bias = RelativePositionBias(self.window, num_heads)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """x: (B, H * W, C) -> (B, H * W, C)."""
        B, _, C = x.shape
        H, W = hw
        x = pad_to_multiple(x.view(B, H, W, C), *self.window)
        Hp, Wp = x.shape[1:3]
        shift = self.shift if max(H, W) > self.window[0] else 0
        if shift:
            x = torch.roll(x, (-shift, -shift), dims=(1, 2))
        windows = window_partition(x, self.window)
        nW, N = windows.shape[0] // B, windows.shape[1]
        q, k, v = self.qkv(windows).view(B * nW, N, 3, self.num_heads,
                                         C // self.num_heads).permute(
                                             2, 0, 3, 1, 4)
        bias = self.position_bias()
        if shift or needs_padding(Hp - H, Wp - W):
            mask = region_mask(H, W, Hp, Wp, self.window, shift, x.device)
            bias = (bias + mask).repeat(B, 1, 1, 1)
        out = attend(q, k, v, bias.to(q.dtype),
                     self.attn_drop if self.training else 0.)
        x = window_reverse(self.proj(merge_heads(out)), self.window, Hp, Wp)
        if shift:
            x = torch.roll(x, (shift, shift), dims=(1, 2))
        return self.proj_drop(crop_tokens(x, H, W))


@size_cache()
def region_mask(H: int, W: int, Hp: int, Wp: int, window: Tuple[int, int],
                shift: int, device: torch.device) -> torch.Tensor:
    """Mask of a padded, rolled map: a query may see keys of its own region.

    Regions are the parts of the padded (Hp, Wp) map that stay contiguous
    after the roll (Swin's nine regions); padded keys are never visible
    except to themselves, so no row is fully masked.

    Returns (num_windows, 1, N, N), N = wh * ww. Cached (:mod:`.cache`);
    never modify the result in place.
    """
    label = torch.zeros(Hp, Wp, device=device)
    if shift:
        cuts = (slice(0, -window[0]), slice(-window[0], -shift),
                slice(-shift, None))
        for i, rows in enumerate(cuts):
            for j, cols in enumerate(cuts):
                label[rows, cols] = 3 * i + j
    label[H:, :] = -1
    label[:, W:] = -1
    if shift:
        label = torch.roll(label, (-shift, -shift), dims=(0, 1))
    label = window_partition(label[None, :, :, None], window).squeeze(-1)
    blocked = (label[:, :, None] != label[:, None, :]) | (label[:, None, :] < 0)
    blocked &= ~torch.eye(label.shape[1], dtype=torch.bool, device=device)
    mask = torch.zeros(blocked.shape, device=device)
    return mask.masked_fill_(blocked, float('-inf'))[:, None]
