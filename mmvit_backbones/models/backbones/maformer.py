"""MAFormer: Multi-scale Attention Fusion transformer (Wang et al., 2022).

Stages 1-2 stack MAF blocks (a local window-attention branch, a Global
Learning with Down-sampling branch and a cross-attention fusion, paper
section 3.2); stages 3-4 stack plain ViT blocks. The paper leaves many
details open; each choice made here is documented, with its reason, in
``docs/maformer.md``.
"""
import math
from typing import Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.registry import MODELS
from torch import nn

from ..layers import (ConvEmbed, CrossAttention, DepthwiseConv2d, DropPath,
                      Mlp, MultiheadAttention, PreNormBlock,
                      ShiftedWindowAttention, attend, ceil_div,
                      contiguous_if_symbolic, crop_map, is_symbolic,
                      merge_heads, needs_padding, padding_key_mask,
                      padding_to_multiple, tokens_to_map)
from .base import BackboneStage, HierarchicalBackbone

LOCAL_ATTENTIONS = ('cross_shaped', 'shifted_window')


class CrossShapedWindowAttention(nn.Module):
    """Cross-shaped window self-attention (CSWin, Dong et al. 2022).

    Half of the heads attend inside horizontal stripes (``stripe_width``
    rows spanning the full width), the other half inside vertical stripes.
    Each half adds a locally-enhanced positional encoding (LePE): a 3x3
    depthwise convolution of its values inside the stripe. Maps whose side is
    not a multiple of the stripe width are padded and padded keys masked, so
    any input size gives the same result as an unpadded reference.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads (split evenly over the two halves).
        stripe_width (int): Stripe width sw.
        qkv_bias (bool): Bias in the q/k/v projection.
        attn_drop (float): Dropout on the attention weights.
        proj_drop (float): Dropout after the output projection.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 stripe_width: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.):
        super().__init__()
        if num_heads % 2 or embed_dims % num_heads:
            raise ValueError(
                'cross-shaped attention splits heads into a horizontal and a '
                f'vertical half: num_heads={num_heads} must be even and '
                f'divide embed_dims={embed_dims}')
        half = embed_dims // 2
        self.heads_per_half = num_heads // 2
        self.stripe_width = stripe_width
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.lepe = nn.ModuleList(DepthwiseConv2d(half, 3) for _ in range(2))
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """x: (B, H * W, C) -> (B, H * W, C).

        The q/k/v projection is laid out branch-major, (horizontal q, k, v |
        vertical q, k, v), so the horizontal stripes are views of it.
        """
        B, L, C = x.shape
        H, W = hw
        qkv = self.qkv(x).view(B, H, W, 2, 3, C // 2)
        horizontal = self._stripes(qkv[:, :, :, 0], self.lepe[0])
        vertical = self._stripes(qkv[:, :, :, 1].transpose(1, 2), self.lepe[1])
        out = torch.cat([horizontal, vertical.transpose(1, 2)], dim=-1)
        return self.proj_drop(self.proj(out.view(B, L, C)))

    def _stripes(self, qkv: torch.Tensor, lepe: nn.Conv2d) -> torch.Tensor:
        """Attention inside horizontal stripes of a (B, H, W, 3, C') map.

        Vertical stripes are handled by passing the transposed map.
        Returns (B, H, W, C').
        """
        B, H, W, _, C = qkv.shape
        sw = self.stripe_width
        pad = padding_to_multiple(H, sw)
        padded_rows = needs_padding(pad)
        if padded_rows:
            # Traced, the padding may be zero, and a zero F.pad keeps the
            # strides of its input: the strided view is made contiguous
            # first. (Copying it into the rows of a zero map, or a cat with
            # zero rows, asks whether the padding is zero: a guard.)
            qkv = F.pad(contiguous_if_symbolic(qkv),
                        (0, 0, 0, 0, 0, 0, 0, pad))
        Hp = H + pad
        n = B * Hp // sw
        h = self.heads_per_half
        q, k, v = qkv.reshape(n, sw * W, 3, h, C // h).permute(2, 0, 3, 1, 4)
        bias = None
        if padded_rows:
            bias = padding_key_mask(H, W, Hp, W, (sw, W), qkv.device)
            bias = bias.repeat(B, 1, 1, 1).to(q.dtype)
        out = attend(q, k, v, bias, self.attn_drop if self.training else 0.)
        v_img = v.transpose(1, 2).reshape(n, sw, W, C).permute(0, 3, 1, 2)
        out = merge_heads(out) + lepe(v_img).flatten(2).transpose(1, 2)
        return crop_map(out.view(B, Hp, W, C), H, W)


def pooling_weights(size: int, bins: int, device: torch.device,
                    dtype: torch.dtype) -> torch.Tensor:
    """(bins, size) weights of adaptive average pooling along one axis: row
    i averages positions floor(i * size / bins) to ceil((i + 1) * size /
    bins) - 1, the bins of ``F.adaptive_avg_pool2d``."""
    index = torch.arange(bins, device=device)
    start = index * size // bins
    end = ceil_div((index + 1) * size, bins)
    position = torch.arange(size, device=device)
    inside = (position >= start[:, None]) & (position < end[:, None])
    return inside.to(dtype) / (end - start)[:, None].to(dtype)


def adaptive_avg_pool(x: torch.Tensor, bins: int) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, bins)``, (B, C, H, W) -> (B, C, bins,
    bins).

    For symbolic sizes (``torch.compile`` with dynamic shapes), written as
    weighted sums over rows then columns (:func:`pooling_weights`):
    Inductor's lowering of the pooling fixes H and W with a guard on each,
    so every new input size compiled a new graph. Sums, not matrix
    products, so that autocast leaves the precision as the pooling's.
    """
    if not is_symbolic(x):
        return F.adaptive_avg_pool2d(x, bins)
    H, W = x.shape[-2:]
    rows = pooling_weights(H, bins, x.device, x.dtype)
    cols = pooling_weights(W, bins, x.device, x.dtype)
    x = (x.unsqueeze(-3) * rows[:, :, None]).sum(-2)
    return (x.unsqueeze(-2) * cols).sum(-1)


class GlobalLearningDownsampling(nn.Module):
    """GLD branch, eq. (2): ``X_G = Pos(X) + FC(X)``.

    FC is a fully connected layer along the token axis. So that it works for
    any input size with a fixed number of weights, it reads the map resampled
    (adaptive average pooling, every token contributes) to a fixed
    ``ref_size`` x ``ref_size`` grid and produces ``out_size ** 2`` global
    tokens, ``out_size = round(ref_size * sqrt(ratio))`` (ratio N = 0.5 in the
    paper). Pos is the bilinear interpolation of the map to that output grid,
    which keeps each global token tied to its location.

    Args:
        ref_size (int): Side of the grid the token-axis FC reads.
        ratio (float): Token down-sampling ratio N.
    """

    def __init__(self, ref_size: int = 10, ratio: float = 0.5):
        super().__init__()
        if ref_size < 1 or not 0 < ratio <= 1:
            raise ValueError(f'GLD needs ref_size >= 1 and 0 < ratio <= 1, '
                             f'got ref_size={ref_size}, ratio={ratio}')
        self.ref_size = ref_size
        self.out_size = max(1, round(ref_size * math.sqrt(ratio)))
        self.fc = nn.Linear(ref_size**2, self.out_size**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> global tokens (B, out_size ** 2, C)."""
        ref = adaptive_avg_pool(x, self.ref_size).flatten(2)
        # Antialiased bilinear resizing has no reduced-precision kernel on
        # the CPU: resize in fp32 (a no-op cast for fp32 inputs).
        pos = F.interpolate(
            x.float(), (self.out_size, self.out_size),
            mode='bilinear',
            align_corners=False,
            antialias=True).to(x.dtype).flatten(2)
        return (pos + self.fc(ref)).transpose(1, 2)


class MAFBlock(nn.Module):
    """Multi-scale Attention Fusion block (paper section 3.2, Fig. 1b).

    ``X_L = LocalAttn(LN(X)) + X; X_L = MLP(LN(X_L)) + X_L`` (eq. 1),
    ``X_G = GLD(LN(X))`` (eq. 2) and the fusion
    ``X_L + softmax(Q_L K_G^T / sqrt(d)) V_G`` (eq. 3-4) with Q from the
    local tokens and K, V from the global tokens.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Heads of the local attention and the fusion.
        local_attn (str): 'cross_shaped' or 'shifted_window'.
        stripe_width (int): Stripe width of cross-shaped attention.
        window_size (int): Window of shifted-window attention.
        shift (bool): Shift the windows (odd blocks).
        mlp_ratio (float): MLP hidden / input channels.
        gld_ref_size (int): Grid side read by the GLD token FC.
        gld_ratio (float): GLD token ratio N.
        qkv_bias (bool): Bias in the q/k/v projections.
        drop (float): Dropout after projections and in the MLP.
        attn_drop (float): Dropout on attention weights.
        drop_path (float): Stochastic depth rate of the block.
        norm_cfg (dict): Token norm.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 local_attn: str = 'cross_shaped',
                 stripe_width: int = 1,
                 window_size: int = 7,
                 shift: bool = False,
                 mlp_ratio: float = 4.,
                 gld_ref_size: int = 10,
                 gld_ratio: float = 0.5,
                 qkv_bias: bool = True,
                 drop: float = 0.,
                 attn_drop: float = 0.,
                 drop_path: float = 0.,
                 norm_cfg: dict = dict(type='LN')):
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        if local_attn == 'cross_shaped':
            self.local_attn = CrossShapedWindowAttention(
                embed_dims, num_heads, stripe_width, qkv_bias, attn_drop,
                drop)
        elif local_attn == 'shifted_window':
            self.local_attn = ShiftedWindowAttention(embed_dims, num_heads,
                                                     window_size, shift,
                                                     qkv_bias, attn_drop, drop)
        else:
            raise ValueError(f'local_attn must be one of {LOCAL_ATTENTIONS}, '
                             f'got {local_attn!r}')
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio), drop)
        self.gld = GlobalLearningDownsampling(gld_ref_size, gld_ratio)
        self.norm_local = build_norm_layer(norm_cfg, embed_dims)[1]
        self.norm_global = build_norm_layer(norm_cfg, embed_dims)[1]
        self.fusion = CrossAttention(embed_dims, num_heads, qkv_bias,
                                     attn_drop, drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """x: (B, H * W, C) -> (B, H * W, C)."""
        normed = self.norm1(x)
        local = self.drop_path.add_branch(x, self.local_attn(normed, hw))
        local = self.drop_path.add_branch(local, self.mlp(self.norm2(local)))
        global_tokens = self.gld(tokens_to_map(normed, hw))
        fused = self.fusion(
            self.norm_local(local), self.norm_global(global_tokens))
        return self.drop_path.add_branch(local, fused)


class ViTBlock(PreNormBlock):
    """Pre-norm transformer block with global self-attention (stages 3-4).

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads.
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
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop: float = 0.,
                 attn_drop: float = 0.,
                 drop_path: float = 0.,
                 norm_cfg: dict = dict(type='LN')):
        attn = MultiheadAttention(embed_dims, num_heads, qkv_bias, attn_drop,
                                  drop)
        super().__init__(embed_dims, attn, mlp_ratio, drop, drop_path,
                         norm_cfg)

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """x: (B, H * W, C) -> (B, H * W, C); global attention ignores hw."""
        return super().forward(x)


@MODELS.register_module()
class MAFormer(HierarchicalBackbone):
    """MAFormer backbone (Wang et al., "MAFormer: A Transformer Network with
    Multi-scale Attention Fusion for Visual Recognition", 2022).

    A 7x7 stride-4 convolution stem (``patch_embed``), then four stages
    separated by 3x3 stride-2 convolution merging (``stages[i].downsample``
    after stages 1-3). Stages 1-2 use :class:`MAFBlock`, stages 3-4
    :class:`ViTBlock` (paper section 3.1, Table 1).

    Args:
        arch (str | dict): One of ``MAFormer.arch_zoo`` ('s', 'b', 'l' and
            their long names) or a dict with ``embed_dims``, ``depths`` and
            ``num_heads`` (four entries each).
        in_channels (int): Image channels.
        local_attn (str): Local branch of the MAF blocks: 'cross_shaped'
            (paper default) or 'shifted_window' (Table 2 ablation).
        stripe_widths (Sequence[int]): Cross-shaped stripe width of stages
            1 and 2.
        window_size (int): Window of 'shifted_window' local attention.
        gld_ref_size (int): Grid side read by the GLD token FC.
        gld_ratio (float): GLD token down-sampling ratio N.
        mlp_ratio (float): MLP expansion ratio.
        qkv_bias (bool): Bias in q/k/v projections.
        drop_rate (float): Dropout rate.
        attn_drop_rate (float): Attention dropout rate.
        drop_path_rate (float): Stochastic depth, increasing linearly over
            all blocks up to this value.
        out_indices (Sequence[int]): Stages whose outputs are returned, each
            layer-normed and shaped (B, C_i, H / 2^(i+2), W / 2^(i+2)).
        frozen_stages (int): Freeze the stem (``>= 0``) and the first
            ``frozen_stages`` stages, each with the merging that follows it;
            -1 freezes nothing.
        with_cp (bool): Gradient checkpointing of every block.
        norm_cfg (dict): Token norm.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained',
            checkpoint=PATH)``.
    """
    arch_zoo = {
        **dict.fromkeys(['s', 'small'], {
            'embed_dims': [64, 128, 320, 512],
            'depths': [3, 5, 8, 3],
            'num_heads': [2, 4, 10, 16],
        }),
        **dict.fromkeys(['b', 'base'], {
            'embed_dims': [64, 128, 320, 512],
            'depths': [3, 8, 20, 7],
            'num_heads': [2, 4, 10, 16],
        }),
        **dict.fromkeys(['l', 'large'], {
            'embed_dims': [128, 192, 448, 640],
            'depths': [3, 8, 24, 7],
            'num_heads': [4, 6, 14, 20],
        }),
    }
    per_stage_arch_keys = ('embed_dims', 'depths', 'num_heads')
    num_maf_stages = 2

    def __init__(self,
                 arch: Union[str, dict] = 's',
                 in_channels: int = 3,
                 local_attn: str = 'cross_shaped',
                 stripe_widths: Sequence[int] = (1, 2),
                 window_size: int = 7,
                 gld_ref_size: int = 10,
                 gld_ratio: float = 0.5,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 norm_cfg: dict = dict(type='LN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        settings = self._init_arch(arch, in_channels, out_indices,
                                   frozen_stages)
        dims = settings['embed_dims']
        depths = settings['depths']
        heads = settings['num_heads']
        if len(stripe_widths) != self.num_maf_stages:
            raise ValueError('stripe_widths needs one width per MAF stage '
                             f'(2), got {stripe_widths}')
        self.num_features = dims

        self.patch_embed = ConvEmbed(in_channels, dims[0], 7, 4, norm_cfg)
        dpr = self._drop_path_rates(drop_path_rate)
        self.stages = nn.ModuleList()
        for i, (dim, depth, num_heads) in enumerate(zip(dims, depths, heads)):
            common = dict(
                embed_dims=dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                drop=drop_rate,
                attn_drop=attn_drop_rate,
                norm_cfg=norm_cfg)
            if i < self.num_maf_stages:
                blocks = [
                    MAFBlock(
                        local_attn=local_attn,
                        stripe_width=stripe_widths[i],
                        window_size=window_size,
                        shift=j % 2 == 1,
                        gld_ref_size=gld_ref_size,
                        gld_ratio=gld_ratio,
                        drop_path=dpr[i][j],
                        **common) for j in range(depth)
                ]
            else:
                blocks = [
                    ViTBlock(drop_path=dpr[i][j], **common)
                    for j in range(depth)
                ]
            downsample = None
            if i < self.num_stages - 1:
                downsample = ConvEmbed(dim, dims[i + 1], 3, 2, norm_cfg)
            self.stages.append(BackboneStage(blocks, downsample, with_cp))
        self._add_out_norms(True, norm_cfg, dims)
        self._freeze_stages()
