"""CrossFormer and CrossFormer++ (Wang et al., "CrossFormer++: A Versatile
Vision Transformer Hinging on Cross-scale Attention", 2023).

Four stages, each opened by a cross-scale embedding layer (CEL, section 3.1)
and made of blocks that alternate short and long distance attention (LSDA,
section 3.2.1) with a dynamic position bias (DPB, section 3.2.2).
CrossFormer++ adds progressive group sizes (section 4.1) and amplitude
cooling layers (ACL, section 4.2). Options, defaults and the two LDA grouping
semantics are documented in ``docs/crossformer.md``.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.registry import MODELS
from torch import nn

from ..layers import (Conv2d, DepthwiseConv2d, DynamicPositionBias,
                      PreNormBlock, attend, ceil_div, crop_tokens,
                      is_patchwise, is_symbolic, needs_padding,
                      pad_image_to_multiple, patch_linear, real_region,
                      size_cache, tokens_to_map)
from ..layers.attention import check_heads
from .base import BackboneStage, HierarchicalBackbone

LDA_MODES = ('image', 'region')
ACL_PERIOD = 3
DPB_WIDTH_DIVISOR = 16


@dataclass(frozen=True)
class GroupLayout:
    """How an (H, W) map is padded and split into attention groups.

    The map is zero-padded at the bottom/right to ``padded`` = (Rh * Gh * I,
    Rw * Gw * I), and a padded row index is read as ``r * Gh * I + m * I + a``
    (region r < Rh, token m < Gh, phase a < I; columns alike). Group
    (r, s, a, b) holds the Gh x Gw tokens (m, n) of one region and phase, i.e.
    tokens I apart. Every grouping of the paper is such a lattice:

    - SDA: I = 1, group (G, G), one group per G x G window.
    - LDA 'image' (first generation): one region, group (Hp / I, Wp / I).
    - LDA 'region' (second generation): group (G, G) in (G I) x (G I) regions.
    - global attention: one region, I = 1, group (H, W).

    Attributes:
        regions (tuple[int, int]): (Rh, Rw).
        group (tuple[int, int]): (Gh, Gw), tokens per group side.
        interval (int): Stride I between the tokens of a group.
    """
    regions: Tuple[int, int]
    group: Tuple[int, int]
    interval: int

    @property
    def padded(self) -> Tuple[int, int]:
        """(Hp, Wp) of the padded map."""
        return (self.regions[0] * self.group[0] * self.interval,
                self.regions[1] * self.group[1] * self.interval)

    @property
    def groups_per_image(self) -> int:
        """Rh * Rw * I^2."""
        return self.regions[0] * self.regions[1] * self.interval**2


def group_layout(hw: Tuple[int, int],
                 group_size: int,
                 interval: int,
                 long_distance: bool,
                 lda_mode: str = 'image',
                 adaptive_interval: bool = False) -> GroupLayout:
    """Grouping of one SDA or LDA block for an (H, W) map (section 3.2.1).

    A map that fits in one group (``max(H, W) <= group_size``) gets global
    attention, decided afresh for every input.

    Args:
        hw (tuple[int, int]): Map size (H, W).
        group_size (int): G.
        interval (int): I of LDA (unused by SDA).
        long_distance (bool): LDA instead of SDA.
        lda_mode (str): 'image': pad to a multiple of I, I^2 groups of
            (Hp / I) x (Wp / I) tokens. 'region': pad to a multiple of G I,
            G x G groups of stride I inside each (G I) x (G I) region.
        adaptive_interval (bool): 'region' only: I = ceil(max(H, W) / G).
    """
    H, W = hw
    if max(H, W) <= group_size:
        return GroupLayout((1, 1), (H, W), 1)
    if not long_distance:
        return GroupLayout((ceil_div(H, group_size),
                            ceil_div(W, group_size)),
                           (group_size, group_size), 1)
    if lda_mode == 'image':
        return GroupLayout((1, 1),
                           (ceil_div(H, interval), ceil_div(W, interval)),
                           interval)
    if adaptive_interval:
        interval = ceil_div(max(H, W), group_size)
    span = group_size * interval
    return GroupLayout((ceil_div(H, span), ceil_div(W, span)),
                       (group_size, group_size), interval)


def lattice_view(x: torch.Tensor, layout: GroupLayout) -> torch.Tensor:
    """(B, Hp, Wp, *C) padded map -> view (B, Rh, Rw, I, I, Gh, Gw, *C).

    Groups are ordered (image, region row, region column, row phase, column
    phase), tokens row-major inside a group; no copy.
    """
    B, _, _, *channels = x.shape
    (rh, rw), (gh, gw), i = layout.regions, layout.group, layout.interval
    x = x.view(B, rh, gh, i, rw, gw, i, *channels)
    return x.permute(0, 1, 4, 3, 6, 2, 5, *range(7, x.dim()))


def group_tokens(x: torch.Tensor, layout: GroupLayout) -> torch.Tensor:
    """(B, Hp, Wp, C) padded map -> (B * groups, Gh * Gw, C), grouped as
    :func:`lattice_view` in one copy."""
    gh, gw = layout.group
    return lattice_view(x, layout).reshape(-1, gh * gw, x.shape[-1])


def group_heads(qkv: torch.Tensor, layout: GroupLayout,
                num_heads: int) -> Tuple[torch.Tensor, ...]:
    """(B, Hp, Wp, 3C) padded map of q, k, v -> q, k, v, each (B * groups,
    heads, Gh * Gw, C / heads) and contiguous, grouped as
    :func:`lattice_view` in one copy.

    The channels are split before the lattice view, not after: the backward
    then needs two copies (stacking the gradients, and the lattice back into
    the map) instead of three."""
    gh, gw = layout.group
    x = lattice_view(qkv.unflatten(-1, (3, num_heads, -1)), layout)
    x = x.permute(7, 0, 1, 2, 3, 4, 8, 5, 6, 9)
    return x.reshape(3, -1, num_heads, gh * gw, x.shape[-1]).unbind(0)


def ungroup_heads(out: torch.Tensor, layout: GroupLayout) -> torch.Tensor:
    """Inverse of :func:`group_heads` for one of its tensors: (B * groups,
    heads, Gh * Gw, d) -> (B, Hp, Wp, heads * d), in one copy."""
    _, heads, _, head_dims = out.shape
    (rh, rw), (gh, gw), i = layout.regions, layout.group, layout.interval
    x = out.view(-1, rh, rw, i, i, heads, gh, gw, head_dims)
    x = x.permute(0, 1, 6, 3, 2, 7, 4, 5, 8)
    return x.reshape(-1, *layout.padded, heads * head_dims)


@size_cache()
def padding_bias(layout: GroupLayout, hw: Tuple[int, int],
                 device: torch.device) -> Optional[torch.Tensor]:
    """Additive key mask of a padded map, or None when nothing is padded.

    Returns (groups_per_image, 1, 1, N): ``-inf`` on the padded keys of every
    group that holds at least one real token (their queries never see the
    padding). Groups made only of padding stay unmasked: their outputs are
    cropped away and an all ``-inf`` row would give NaN. Cached per layout,
    map size and device (:mod:`..layers.cache`); never modify the result in
    place. Filled in its final shape, as :func:`..layers.padding_key_mask`.
    """
    H, W = hw
    Hp, Wp = layout.padded
    if not needs_padding(Hp - H, Wp - W):
        return None
    real = group_tokens(real_region(H, W, Hp, Wp, device), layout)
    real = real.view(-1, 1, 1, real.shape[1])
    masked = ~real & real.any(-1, keepdim=True)
    bias = torch.zeros(real.shape, device=device)
    return bias.masked_fill_(masked, float('-inf'))


class CrossFormerAttention(nn.Module):
    """Short or long distance attention with dynamic position bias.

    ``softmax(Q K^T / sqrt(d) + B) V`` inside each group (eq. 1), B from
    :class:`DynamicPositionBias` (eq. 2, hidden width C / 16). SDA groups
    G x G adjacent tokens, LDA tokens sampled with interval I (Fig. 2); see
    :func:`group_layout` for the exact grouping and the global fallback.
    Padded keys are masked, so the result does not depend on the padding.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads.
        group_size (int): G.
        interval (int): I (LDA only).
        long_distance (bool): LDA instead of SDA.
        lda_mode (str): 'image' or 'region', see :func:`group_layout`.
        adaptive_interval (bool): 'region' LDA with I = ceil(max(H, W) / G).
        qkv_bias (bool): Bias in the q/k/v projection.
        attn_drop (float): Dropout on the attention weights.
        proj_drop (float): Dropout after the output projection.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 group_size: int,
                 interval: int,
                 long_distance: bool,
                 lda_mode: str = 'image',
                 adaptive_interval: bool = False,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.):
        super().__init__()
        check_heads(embed_dims, num_heads)
        if lda_mode not in LDA_MODES:
            raise ValueError(f'lda_mode must be one of {LDA_MODES}, got '
                             f'{lda_mode!r}')
        if adaptive_interval and lda_mode != 'region':
            raise ValueError("adaptive_interval needs lda_mode='region' (the "
                             'second-generation grouping)')
        self.num_heads = num_heads
        self.group_size = group_size
        self.interval = interval
        self.long_distance = long_distance
        self.lda_mode = lda_mode
        self.adaptive_interval = adaptive_interval
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.position_bias = DynamicPositionBias(
            num_heads, embed_dims // DPB_WIDTH_DIVISOR)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def layout(self, hw: Tuple[int, int]) -> GroupLayout:
        """Grouping of an (H, W) map for this block."""
        return group_layout(hw, self.group_size, self.interval,
                            self.long_distance, self.lda_mode,
                            self.adaptive_interval)

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """x: (B, H * W, C) -> (B, H * W, C)."""
        B, _, C = x.shape
        H, W = hw
        layout = self.layout(hw)
        Hp, Wp = layout.padded
        qkv = self.qkv(x).view(B, H, W, 3 * C)
        if needs_padding(Hp - H, Wp - W):
            qkv = F.pad(qkv, (0, 0, 0, Wp - W, 0, Hp - H))
        q, k, v = group_heads(qkv, layout, self.num_heads)
        bias = self.position_bias(layout.group)
        padding = padding_bias(layout, hw, x.device)
        if padding is not None:
            bias = (bias + padding).repeat(B, 1, 1, 1)
        out = attend(q, k, v, bias.to(q.dtype),
                     self.attn_drop if self.training else 0.)
        out = crop_tokens(ungroup_heads(out, layout), H, W)
        return self.proj_drop(self.proj(out))


class AmplitudeCoolingLayer(nn.Module):
    """ACL (CrossFormer++ section 4.2, Fig. 6): ``LN(DWConv3x3(x))``.

    Replaces the tokens, with no residual connection, to cut the growth of
    activation amplitudes along a stage.

    Args:
        embed_dims (int): Channels C.
        norm_cfg (dict): Norm after the depthwise convolution.
    """

    def __init__(self, embed_dims: int, norm_cfg: dict = dict(type='LN')):
        super().__init__()
        self.conv = DepthwiseConv2d(embed_dims, 3)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """x: (B, H * W, C) -> (B, H * W, C)."""
        x = self.conv(tokens_to_map(x, hw))
        return self.norm(x.flatten(2).transpose(1, 2))


def cross_scale_split(out_channels: int, num_kernels: int) -> List[int]:
    """Output channels per kernel of a CEL (section 3.1, Fig. 3).

    Kernel i (smallest first) gets ``out / 2^(i+1)``, the last one the same
    as the one before: 96 over 4 kernels -> 48, 24, 12, 12.
    """
    if num_kernels < 1 or out_channels % 2**(num_kernels - 1):
        raise ValueError(
            f'a cross-scale embedding with {num_kernels} kernels needs '
            f'out_channels divisible by {2**max(num_kernels - 1, 0)}, got '
            f'{out_channels}')
    split = [out_channels // 2**(i + 1) for i in range(num_kernels - 1)]
    return split + [out_channels - sum(split)]


def space_to_depth_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(x)`` for a strided convolution, computed on stride blocks.

    The input is padded, cut into stride x stride blocks stacked on channels
    (``pixel_unshuffle``) and convolved at stride 1 with the kernel
    rearranged the same way (zero-padded to whole blocks). Same result; for a
    kernel much larger than its stride on few input channels (the CEL stem's
    16 x 16 and 32 x 32 kernels on RGB) the convolution runs 2-3 times
    faster on CPU, forward and backward.

    x: (B, C_in, H, W) -> (B, C_out, H_out, W_out), as ``conv(x)``.
    """
    s, = set(conv.stride)
    k, = set(conv.kernel_size)
    p, = set(conv.padding)
    blocks = ceil_div(k, s)
    H, W = x.shape[2:]
    out_h, out_w = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    x = F.pad(x, (p, s * (out_w - 1 + blocks) - p - W,
                  p, s * (out_h - 1 + blocks) - p - H))
    out_c, in_c = conv.weight.shape[:2]
    weight = F.pad(conv.weight, (0, blocks * s - k, 0, blocks * s - k))
    weight = weight.view(out_c, in_c, blocks, s, blocks, s).permute(
        0, 1, 3, 5, 2, 4).reshape(out_c, in_c * s * s, blocks, blocks)
    return F.conv2d(F.pixel_unshuffle(x, s), weight, conv.bias)


class CrossScaleEmbedding(nn.Module):
    """Cross-scale embedding layer (CEL, section 3.1, Fig. 3).

    One convolution per kernel size, all with the same stride and padding
    ``(k - stride) / 2`` so that the patches of a token share their centre;
    the outputs are concatenated on channels (:func:`cross_scale_split`).
    The input is first zero-padded at the bottom/right to a multiple of the
    stride (as mmcv's AdaptivePadding, 'corner'), so the output is
    ceil(H / stride) x ceil(W / stride) for any size and equals the
    reference's where the size is a multiple of the stride.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels (sum over the kernels).
        kernel_sizes (Sequence[int]): Kernel sizes (used in ascending order;
            larger kernels get fewer channels).
        stride (int): Down-sampling factor.
        norm_cfg (dict): LayerNorm of the tokens.
        norm_first (bool): Normalise the input (patch merging between stages)
            instead of the output (the stem).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_sizes: Sequence[int],
                 stride: int,
                 norm_cfg: dict = dict(type='LN'),
                 norm_first: bool = False):
        super().__init__()
        for k in kernel_sizes:
            if k < stride or (k - stride) % 2:
                raise ValueError(
                    f'cross-scale kernels must be >= the stride ({stride}) '
                    f'and differ from it by an even number, got {k}')
        self.stride = stride
        self.norm_first = norm_first
        splits = cross_scale_split(out_channels, len(kernel_sizes))
        self.projections = nn.ModuleList(
            Conv2d(
                in_channels, dims, k, stride=stride, padding=(k - stride) // 2)
            for k, dims in zip(sorted(kernel_sizes), splits))
        norm_dims = in_channels if norm_first else out_channels
        self.norm = build_norm_layer(norm_cfg, norm_dims)[1]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """x: (B, C_in, H, W) -> tokens (B, H' * W', C_out) and (H', W')."""
        if self.norm_first:
            x = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x = pad_image_to_multiple(x, self.stride)
        x = torch.cat([self._project(proj, x) for proj in self.projections],
                      dim=-1)
        hw = tuple(x.shape[1:3])
        x = x.flatten(1, 2)
        return (x if self.norm_first else self.norm(x)), hw

    @staticmethod
    def _project(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        """One kernel's output, channels-last (B, H', W', C_k): a kernel
        equal to the stride as :func:`patch_linear`, a kernel of 4 strides
        or more as :func:`space_to_depth_conv`.

        For symbolic sizes (``torch.compile`` with dynamic shapes), the
        large kernels run as plain strided convolutions: the stride blocks
        are a reshaped view kept for the backward, whose symbolic strides
        Inductor (torch 2.13) fails to order ("cannot determine truth value
        of Relational", pytorch#185510)."""
        if is_patchwise(conv):
            return patch_linear(x.permute(0, 2, 3, 1), conv)
        if (conv.kernel_size[0] >= 4 * conv.stride[0]
                and not is_symbolic(x)):
            x = space_to_depth_conv(x, conv)
        else:
            x = conv(x)
        return x.permute(0, 2, 3, 1)


class CrossFormerBlock(PreNormBlock):
    """Pre-norm CrossFormer block (section 3.2, Fig. 1b), with an optional
    ACL after the MLP residual (CrossFormer++, Fig. 6).

    ``x = x + DropPath(Attn(LN(x)))``, ``x = x + DropPath(MLP(LN(x)))``,
    then ``x = ACL(x)`` when ``amplitude_cooling``.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads.
        group_size (int): G.
        interval (int): I.
        long_distance (bool): LDA (odd blocks) instead of SDA (even blocks).
        lda_mode (str): 'image' or 'region' LDA grouping.
        adaptive_interval (bool): 'region' LDA with I = ceil(max(H, W) / G).
        amplitude_cooling (bool): Append an ACL.
        mlp_ratio (float): MLP hidden / input channels.
        qkv_bias (bool): Bias in the q/k/v projection.
        drop (float): Dropout after projections and in the MLP.
        attn_drop (float): Dropout on attention weights.
        drop_path (float): Stochastic depth rate of the block.
        norm_cfg (dict): Token norm.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 group_size: int,
                 interval: int,
                 long_distance: bool,
                 lda_mode: str = 'image',
                 adaptive_interval: bool = False,
                 amplitude_cooling: bool = False,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop: float = 0.,
                 attn_drop: float = 0.,
                 drop_path: float = 0.,
                 norm_cfg: dict = dict(type='LN')):
        attn = CrossFormerAttention(embed_dims, num_heads, group_size,
                                    interval, long_distance, lda_mode,
                                    adaptive_interval, qkv_bias, attn_drop,
                                    drop)
        super().__init__(embed_dims, attn, mlp_ratio, drop, drop_path,
                         norm_cfg)
        self.cooling = (
            AmplitudeCoolingLayer(embed_dims, norm_cfg)
            if amplitude_cooling else None)

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """x: (B, H * W, C) -> (B, H * W, C)."""
        x = super().forward(x, hw)
        if self.cooling is not None:
            x = self.cooling(x, hw)
        return x


def has_amplitude_cooling(index: int, depth: int) -> bool:
    """Whether block ``index`` (0-based) of a stage of ``depth`` blocks ends
    with an ACL: after every third block, never after the last one (section
    4.2; depth 18 -> blocks 2, 5, 8, 11, 14)."""
    return (index + 1) % ACL_PERIOD == 0 and index < depth - 1


FIRST_GENERATION = dict(
    group_sizes=[7, 7, 7, 7],
    intervals=[8, 4, 2, 1],
    amplitude_cooling=False,
    lda_mode='image')
SECOND_GENERATION = dict(
    group_sizes=[4, 4, 14, 7],
    intervals=[4, 2, 1, 1],
    amplitude_cooling=True,
    lda_mode='region')


def _arch(embed_dims, depths, num_heads, drop_path_rate, generation):
    return dict(
        embed_dims=embed_dims,
        depths=depths,
        num_heads=num_heads,
        drop_path_rate=drop_path_rate,
        **generation)


@MODELS.register_module()
class CrossFormer(HierarchicalBackbone):
    """CrossFormer / CrossFormer++ backbone (paper Table I).

    Stage i has ``embed_dims * 2^i`` channels and stride ``2^(i+2)``. A CEL
    stem (kernels 4, 8, 16, 32, stride 4) and CEL merging (LayerNorm, then
    kernels 2, 4, stride 2) after stages 1-3; inside a stage even blocks use
    SDA and odd blocks LDA.

    Args:
        arch (str | dict): One of ``CrossFormer.arch_zoo``: first generation
            't', 's', 'b', 'l' (also 'tiny', ..., 'crossformer-s'), second
            generation 'pp-s', 'pp-b', 'pp-l', 'pp-h' (also 'crossformerpp-s',
            'crossformer++-s'). Or a dict with ``embed_dims`` (int D),
            ``depths`` and ``num_heads`` (4 entries each) and optionally
            ``group_sizes``, ``intervals``, ``amplitude_cooling``,
            ``lda_mode``, ``drop_path_rate`` (first-generation defaults:
            7,7,7,7 / 8,4,2,1 / False / 'image' / 0.1).
        in_channels (int): Image channels.
        group_sizes (Sequence[int], optional): G per stage; None: the arch's.
            Dense-prediction configs may change it (e.g. 14, 14, 7, 7):
            weights do not depend on it.
        intervals (Sequence[int], optional): I per stage; None: the arch's.
        lda_mode (str, optional): LDA grouping, 'image' (first generation: I^2
            groups of (H/I) x (W/I) tokens) or 'region' (second generation:
            G x G groups of stride I inside (G I) x (G I) regions). None: the
            arch's ('image' for CrossFormer, 'region' for CrossFormer++).
        adaptive_interval (bool): With 'region' LDA, use I = ceil(max(H, W) /
            G) for every input instead of ``intervals``.
        stem_kernel_sizes (Sequence[int]): Kernels of the stem CEL.
        merge_kernel_sizes (Sequence[int]): Kernels of the merging CELs.
        mlp_ratio (float): MLP expansion ratio.
        qkv_bias (bool): Bias in q/k/v projections.
        drop_rate (float): Dropout rate.
        attn_drop_rate (float): Attention dropout rate.
        drop_path_rate (float, optional): Stochastic depth, linear from 0 to
            this value over all blocks; None: the arch's classification value.
        out_indices (Sequence[int]): Stages whose outputs are returned,
            (B, embed_dims * 2^i, ceil(H / 2^(i+2)), ceil(W / 2^(i+2))), taken
            before the merging.
        out_norms (bool): Add a LayerNorm (``norm{i}``) to every returned
            output. The reference has none.
        frozen_stages (int): Freeze the stem (``>= 0``) and the first
            ``frozen_stages`` stages, each with the merging that follows it;
            -1 freezes nothing.
        with_cp (bool): Gradient checkpointing of every block.
        norm_cfg (dict): Token norm (LayerNorm, eps 1e-5, as the reference).
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained',
            checkpoint=PATH)`` with a file written by
            ``tools/model_converters/crossformer2mmvit.py``.
    """
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny', 'crossformer-t'],
                        _arch(64, [1, 1, 8, 6], [2, 4, 8, 16], 0.1,
                              FIRST_GENERATION)),
        **dict.fromkeys(['s', 'small', 'crossformer-s'],
                        _arch(96, [2, 2, 6, 2], [3, 6, 12, 24], 0.2,
                              FIRST_GENERATION)),
        **dict.fromkeys(['b', 'base', 'crossformer-b'],
                        _arch(96, [2, 2, 18, 2], [3, 6, 12, 24], 0.3,
                              FIRST_GENERATION)),
        **dict.fromkeys(['l', 'large', 'crossformer-l'],
                        _arch(128, [2, 2, 18, 2], [4, 8, 16, 32], 0.5,
                              FIRST_GENERATION)),
        **dict.fromkeys(['pp-s', 'crossformerpp-s', 'crossformer++-s'],
                        _arch(64, [2, 2, 18, 2], [2, 4, 8, 16], 0.2,
                              SECOND_GENERATION)),
        **dict.fromkeys(['pp-b', 'crossformerpp-b', 'crossformer++-b'],
                        _arch(96, [2, 2, 18, 2], [3, 6, 12, 24], 0.3,
                              SECOND_GENERATION)),
        **dict.fromkeys(['pp-l', 'crossformerpp-l', 'crossformer++-l'],
                        _arch(128, [2, 2, 18, 2], [4, 8, 16, 32], 0.5,
                              SECOND_GENERATION)),
        **dict.fromkeys(['pp-h', 'crossformerpp-h', 'crossformer++-h'],
                        _arch(128, [6, 6, 18, 2], [4, 8, 16, 32], 0.7,
                              SECOND_GENERATION)),
    }
    optional_arch_keys = dict(FIRST_GENERATION, drop_path_rate=0.1)
    embed_dims_multiple = 1

    def __init__(self,
                 arch: Union[str, dict] = 's',
                 in_channels: int = 3,
                 group_sizes: Optional[Sequence[int]] = None,
                 intervals: Optional[Sequence[int]] = None,
                 lda_mode: Optional[str] = None,
                 adaptive_interval: bool = False,
                 stem_kernel_sizes: Sequence[int] = (4, 8, 16, 32),
                 merge_kernel_sizes: Sequence[int] = (2, 4),
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: Optional[float] = None,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 out_norms: bool = False,
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 norm_cfg: dict = dict(type='LN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        settings = self._init_arch(arch, in_channels, out_indices,
                                   frozen_stages)
        self.group_sizes = self._per_stage(
            'group_sizes', settings['group_sizes']
            if group_sizes is None else group_sizes)
        self.intervals = self._per_stage(
            'intervals', settings['intervals']
            if intervals is None else intervals)
        self.lda_mode = settings['lda_mode'] if lda_mode is None else lda_mode
        depths = settings['depths']
        dims = self._doubling_dims(settings)
        self.num_features = dims

        self.patch_embed = CrossScaleEmbedding(in_channels, dims[0],
                                               stem_kernel_sizes, 4, norm_cfg)
        dpr = self._drop_path_rates(drop_path_rate)
        self.stages = nn.ModuleList()
        for i, depth in enumerate(depths):
            blocks = [
                CrossFormerBlock(
                    embed_dims=dims[i],
                    num_heads=settings['num_heads'][i],
                    group_size=self.group_sizes[i],
                    interval=self.intervals[i],
                    long_distance=j % 2 == 1,
                    lda_mode=self.lda_mode,
                    adaptive_interval=adaptive_interval,
                    amplitude_cooling=settings['amplitude_cooling']
                    and has_amplitude_cooling(j, depth),
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    drop=drop_rate,
                    attn_drop=attn_drop_rate,
                    drop_path=dpr[i][j],
                    norm_cfg=norm_cfg) for j in range(depth)
            ]
            downsample = None
            if i < self.num_stages - 1:
                downsample = CrossScaleEmbedding(
                    dims[i],
                    dims[i + 1],
                    merge_kernel_sizes,
                    2,
                    norm_cfg,
                    norm_first=True)
            self.stages.append(BackboneStage(blocks, downsample, with_cp))
        self._add_out_norms(out_norms, norm_cfg, dims)
        self._freeze_stages()
