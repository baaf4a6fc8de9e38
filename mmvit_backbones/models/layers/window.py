"""Padding of (B, H, W, C) and (B, C, H, W) maps, and window partitioning."""
from typing import Tuple

import torch
import torch.nn.functional as F

from .cache import size_cache
from .symbolic import is_symbolic


def needs_padding(*pads: int) -> bool:
    """Whether any of the pad amounts is non-zero; always True for symbolic
    pads (:func:`is_symbolic`).

    Padding by zero and masking nothing change no value, so a graph traced
    with dynamic shapes takes the padded path for every size: it then has
    no guard on the remainders of the size, and one graph serves every
    input size. A branch on them would be a guard, and each of its outcomes
    a recompilation.
    """
    return is_symbolic(*pads) or any(pad != 0 for pad in pads)


def ceil_div(size: int, divisor: int) -> int:
    """ceil(size / divisor) of positive ints (or int tensors), as
    ``(size + divisor - 1) // divisor``.

    Not ``-(-size // divisor)``: traced with a symbolic size, that floor
    division of a negative number made Inductor (torch 2.13) fail to lower
    the reshapes whose sizes it enters.
    """
    return (size + divisor - 1) // divisor


def padding_to_multiple(size: int, multiple: int) -> int:
    """Amount that pads ``size`` up to a multiple of ``multiple``.

    Written as ``multiple * ceil(size / multiple) - size`` rather than
    ``-size % multiple``: traced with a symbolic size, the padded size is
    then ``multiple * floor((size + multiple - 1) / multiple)``, which the
    strided layers after it divide exactly; a remainder term instead nests
    into every later size and slows Dynamo's symbolic reasoning to minutes.
    """
    return ceil_div(size, multiple) * multiple - size


def pad_to_multiple(x: torch.Tensor, multiple_h: int,
                    multiple_w: int) -> torch.Tensor:
    """Zero-pad (B, H, W, C) at the bottom/right to multiples of the sizes."""
    H, W = x.shape[1:3]
    pad_h = padding_to_multiple(H, multiple_h)
    pad_w = padding_to_multiple(W, multiple_w)
    if needs_padding(pad_h, pad_w):
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    return x


def pad_image_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad (B, C, H, W) at the bottom/right so that H and W are
    multiples of ``multiple`` (a strided patch embedding then covers every
    pixel)."""
    H, W = x.shape[2:]
    pad_h = padding_to_multiple(H, multiple)
    pad_w = padding_to_multiple(W, multiple)
    if needs_padding(pad_h, pad_w):
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x


def crop_map(x: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """Top-left (H, W) part of a padded (B, Hp, Wp, C) map.

    A view, except for symbolic sizes (:func:`is_symbolic`): then a gather
    of the rows and columns, a new contiguous tensor. Whether a view is
    contiguous is a guard on the size (Hp == H, Wp == W), and AOTAutograd
    asks it of every view in the graph (a clone of the view, or
    ``narrow_copy``, which Inductor decomposes into one, would not avoid
    it).
    """
    if is_symbolic(x, H, W):
        rows = torch.arange(H, device=x.device)
        cols = torch.arange(W, device=x.device)
        return x.index_select(1, rows).index_select(2, cols)
    return x[:, :H, :W]


def crop_tokens(x: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """Top-left (H, W) part of a padded (B, Hp, Wp, C) map, as tokens
    (B, H * W, C).

    A view when nothing is padded (``x`` contiguous), else one copy. For
    symbolic sizes it is always a copy, so the graph does not depend on
    whether the crop can be viewed as tokens (a guard on the size, and a
    recompilation, for each outcome).
    """
    B, _, _, C = x.shape
    return crop_map(x, H, W).reshape(B, H * W, C)


def window_partition(x: torch.Tensor, window: Tuple[int, int]) -> torch.Tensor:
    """(B, H, W, C) -> (B * num_windows, wh * ww, C); H, W divisible."""
    B, H, W, C = x.shape
    wh, ww = window
    x = x.view(B, H // wh, wh, W // ww, ww, C).transpose(2, 3)
    return x.reshape(-1, wh * ww, C)


def window_reverse(windows: torch.Tensor, window: Tuple[int, int], H: int,
                   W: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: -> (B, H, W, C)."""
    wh, ww = window
    C = windows.shape[-1]
    x = windows.view(-1, H // wh, W // ww, wh, ww, C).transpose(2, 3)
    return x.reshape(-1, H, W, C)


def real_region(H: int, W: int, Hp: int, Wp: int,
                device: torch.device) -> torch.Tensor:
    """(1, Hp, Wp, 1) boolean map of an (H, W) map padded to (Hp, Wp): True
    on the real tokens.

    Built by comparing coordinates, not by filling the (H, W) corner: traced
    by AOTAutograd, the fill asks whether the corner is contiguous, a guard
    on whether the map is padded.
    """
    rows = torch.arange(Hp, device=device) < H
    cols = torch.arange(Wp, device=device) < W
    return (rows[:, None] & cols)[None, :, :, None]


@size_cache()
def padding_key_mask(H: int, W: int, Hp: int, Wp: int,
                     window: Tuple[int, int],
                     device: torch.device) -> torch.Tensor:
    """Additive mask forbidding attention to padded keys.

    Returns (num_windows, 1, 1, wh * ww) with ``-inf`` where the key lies in
    the zero padding of an (H, W) map padded to (Hp, Wp). Cached
    (:mod:`.cache`); never modify the result in place.

    The mask is filled in its final shape, not viewed into it: the backward
    of attention keeps it, and Inductor (torch 2.13) fails to order the
    symbolic strides of a kept view ("cannot determine truth value of
    Relational", pytorch#185510).
    """
    valid = window_partition(real_region(H, W, Hp, Wp, device), window)
    padded = ~valid.view(-1, 1, 1, valid.shape[1])
    mask = torch.zeros(padded.shape, device=device)
    return mask.masked_fill_(padded, float('-inf'))
