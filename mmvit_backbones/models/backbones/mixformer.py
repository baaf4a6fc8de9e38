"""MixFormer (Chen et al., "MixFormer: Mixing Features across Windows and
Dimensions", CVPR 2022).

A convolutional stem, four stages of mixing blocks (section 3: local-window
attention on C/2 channels in parallel with a depthwise convolution, joined by
a channel interaction that scales the attention values and a spatial
interaction that gates the convolution branch) and BatchNorm + strided
convolution merging between stages. The behaviour we follow and our choices
for dense prediction (padding, BatchNorm at small batches) are documented in
``docs/mixformer.md``.

Inside a stage the tokens stay one (B, H, W, C) channels-last map: token-wise
layers run on it directly, convolutions and BatchNorms on its NCHW view, and
the only window partition/reverse copies are those of the attention's q/k/v
and output. The backbone's layout hook (:meth:`MixFormer.to_map`) gives the
base's forward the NCHW view of these maps, for the outputs and for the
merging.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.registry import MODELS
from torch import nn

from ..layers import (Conv2d, DepthwiseConv2d, PreNormBlock,
                      RelativePositionBias, attend, channel_norm,
                      channel_norm_nhwc, crop_map, pad_image_to_multiple,
                      pad_to_multiple, patch_linear)
from .base import BackboneStage, HierarchicalBackbone

CHANNEL_INTERACTION_DIVISOR = 8
SPATIAL_INTERACTION_DIVISOR = 16


class ConvStem(nn.Module):
    """Convolutional stem (stride 4) of the spec.

    Three Conv3x3 + norm + GELU (the first with stride 2, C/2 channels),
    then a 2x2 stride-2 convolution to C channels (run as a linear layer on
    the patches, :func:`patch_linear`) and a LayerNorm of the tokens. As in
    the reference, the image is first zero-padded at the bottom/right to a
    multiple of 4, so the output is ceil(H / 4) x ceil(W / 4) for any
    input.

    Args:
        in_channels (int): Image channels.
        embed_dims (int): Output channels C.
        norm_cfg (dict): Norm after each 3x3 convolution.
    """

    def __init__(self, in_channels: int, embed_dims: int, norm_cfg: dict):
        super().__init__()
        hidden = embed_dims // 2
        self.convs = nn.ModuleList(
            Conv2d(c_in, hidden, 3, stride=stride, padding=1)
            for c_in, stride in ((in_channels, 2), (hidden, 1), (hidden, 1)))
        self.norms = nn.ModuleList(
            build_norm_layer(norm_cfg, hidden)[1] for _ in range(3))
        self.act = nn.GELU()
        self.proj = nn.Conv2d(hidden, embed_dims, 2, stride=2)
        self.norm = nn.LayerNorm(embed_dims)

    def forward(self, x: torch.Tensor
                ) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """x: (B, C_in, H, W) -> map (B, H', W', C) and (H', W') =
        (ceil(H / 4), ceil(W / 4))."""
        x = pad_image_to_multiple(x, 4)
        for conv, norm in zip(self.convs, self.norms):
            x = self.act(channel_norm(norm, conv(x)))
        x = self.norm(patch_linear(x.permute(0, 2, 3, 1), self.proj))
        return x, tuple(x.shape[1:3])


class ConvMerging(nn.Module):
    """Patch merging: norm (BatchNorm in the spec), then a 2x2 stride-2
    convolution to ``out_channels`` (:func:`patch_linear`).

    The normalised map is zero-padded to even sides, so the output is
    ceil(H / 2) x ceil(W / 2).

    Args:
        in_channels (int): Channels of the stage that ends.
        out_channels (int): Channels of the next stage.
        norm_cfg (dict): Norm before the convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict):
        super().__init__()
        self.norm = build_norm_layer(norm_cfg, in_channels)[1]
        self.reduction = nn.Conv2d(
            in_channels, out_channels, 2, stride=2)

    def forward(self, x: torch.Tensor
                ) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """x: (B, C, H, W) view of a channels-last map -> map (B, H', W',
        C_out) and (H', W') = (ceil(H / 2), ceil(W / 2))."""
        x = pad_to_multiple(channel_norm_nhwc(self.norm, x.permute(0, 2, 3,
                                                                   1)), 2, 2)
        x = patch_linear(x, self.reduction)
        return x, tuple(x.shape[1:3])


class InteractionGate(nn.Module):
    """Token-wise Conv1x1 -> norm -> GELU -> Conv1x1 -> sigmoid (Fig. 2).

    The 1x1 convolutions are stored as ``nn.Linear`` and run on channels-last
    maps; the norm (BatchNorm in the spec) runs on the NCHW view.

    Args:
        in_dims (int): Input channels.
        hidden_dims (int): Channels between the convolutions.
        out_dims (int): Gate channels.
        norm_cfg (dict): The middle norm.
    """

    def __init__(self, in_dims: int, hidden_dims: int, out_dims: int,
                 norm_cfg: dict):
        super().__init__()
        self.fc1 = nn.Linear(in_dims, hidden_dims)
        self.norm = build_norm_layer(norm_cfg, hidden_dims)[1]
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dims, out_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, H, W, in_dims) -> gate in (0, 1), (B, H, W, out_dims)."""
        x = self.act(channel_norm_nhwc(self.norm, self.fc1(x)))
        return self.fc2(x).sigmoid()


class MixingAttention(nn.Module):
    """The mixing module of a MixFormer block (section 3, Figs. 1-2).

    From C channels, an attention branch on C/2 channels (local 7x7 windows,
    Swin relative position bias, no mask) and a depthwise-convolution branch
    on C channels, then C/2:

    - ``a = LN(Linear(x))`` (C/2), ``c = LN(Linear(x))`` (C);
      ``c = GELU(BN(DWConv3x3(c)))`` on the whole map.
    - channel interaction (conv -> attention): ``g_c = sigmoid(Conv1x1(GELU(
      BN(Conv1x1(avgpool(c))))))``, C -> C/8 -> C/2, one gate per image and
      channel; it scales the attention values.
    - ``c = Conv1x1(c)`` (C -> C/2).
    - ``o = softmax(q k^T / sqrt(d) + RPB) (g_c * v)`` in every window.
    - spatial interaction (attention -> conv): ``g_s = sigmoid(Conv1x1(
      GELU(BN(Conv1x1(o)))))``, C/2 -> C/16 -> 1; ``c = BN(g_s * c)``.
    - ``Linear(concat[LN(o), c])`` (C -> C).

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads (on C/2 channels).
        window_size (int): Square window side.
        dwconv_kernel_size (int): Kernel of the depthwise convolution.
        qkv_bias (bool): Bias in the q/k/v projection.
        attn_drop (float): Dropout on the attention weights.
        proj_drop (float): Dropout after the output projection.
        norm_cfg (dict): The four BatchNorms (conv branch, both interactions,
            conv output).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int = 7,
                 dwconv_kernel_size: int = 3,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 norm_cfg: dict = dict(type='BN')):
        super().__init__()
        half = embed_dims // 2
        if embed_dims % 2 or num_heads < 1 or half % num_heads:
            raise ValueError(
                f'MixFormer attention runs on embed_dims / 2 channels: '
                f'num_heads={num_heads} must divide {embed_dims} / 2')
        self.num_heads = num_heads
        self.window = (window_size, window_size)
        self.attn_drop = attn_drop
        self.proj_attn = nn.Linear(embed_dims, half)
        self.proj_attn_norm = nn.LayerNorm(half)
        self.proj_cnn = nn.Linear(embed_dims, embed_dims)
        self.proj_cnn_norm = nn.LayerNorm(embed_dims)
        self.dwconv = DepthwiseConv2d(embed_dims, dwconv_kernel_size)
        self.dwconv_norm = build_norm_layer(norm_cfg, embed_dims)[1]
        self.act = nn.GELU()
        self.channel_interaction = InteractionGate(
            embed_dims, embed_dims // CHANNEL_INTERACTION_DIVISOR, half,
            norm_cfg)
        self.projection = nn.Linear(embed_dims, half)
        self.conv_norm = build_norm_layer(norm_cfg, half)[1]
        self.qkv = nn.Linear(half, half * 3, bias=qkv_bias)
        self.position_bias = RelativePositionBias(self.window, num_heads)
        self.spatial_interaction = InteractionGate(
            half, embed_dims // SPATIAL_INTERACTION_DIVISOR, 1, norm_cfg)
        self.attn_norm = nn.LayerNorm(half)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, Hp, Wp, C), sides multiples of the window -> same shape."""
        cnn = self.proj_cnn_norm(self.proj_cnn(x))
        cnn = self.dwconv(cnn.permute(0, 3, 1, 2))
        cnn = self.act(channel_norm(self.dwconv_norm, cnn)).permute(0, 2, 3, 1)
        value_gate = self.channel_interaction(cnn.mean((1, 2), keepdim=True))
        cnn = self.projection(cnn)

        attn = self.window_attention(
            self.proj_attn_norm(self.proj_attn(x)), value_gate)
        cnn = cnn * self.spatial_interaction(attn)
        cnn = channel_norm_nhwc(self.conv_norm, cnn)
        return self.proj_drop(self.project_concat(self.attn_norm(attn), cnn))

    def project_concat(self, attn: torch.Tensor,
                       cnn: torch.Tensor) -> torch.Tensor:
        """``proj(concat[attn, cnn])`` as two products with the halves of
        its weight: no concatenated copy, and each branch gets a contiguous
        gradient instead of a strided slice of the concatenation's."""
        half = attn.shape[-1]
        weight = self.proj.weight
        return (F.linear(attn, weight[:, :half], self.proj.bias) +
                F.linear(cnn, weight[:, half:]))

    def window_attention(self, x: torch.Tensor,
                         value_gate: torch.Tensor) -> torch.Tensor:
        """Attention in every window, all windows in one fused call.

        x: (B, Hp, Wp, C') map, value_gate: (B, 1, 1, C') -> (B, Hp, Wp, C').
        q/k/v are projected on the map and cut into windows by one
        reshape/permute copy; the output goes back by another.
        """
        B, Hp, Wp, C = x.shape
        (wh, ww), heads = self.window, self.num_heads
        nh, nw, d = Hp // wh, Wp // ww, C // heads
        qkv = self.qkv(x).view(B, nh, wh, nw, ww, 3, heads, d)
        q, k, v = qkv.permute(5, 0, 1, 3, 6, 2, 4, 7).reshape(
            3, B, nh * nw, heads, wh * ww, d)
        v = v * value_gate.view(B, 1, heads, 1, d)
        out = attend(
            q.flatten(0, 1), k.flatten(0, 1), v.flatten(0, 1),
            self.position_bias()[None].to(q.dtype),
            self.attn_drop if self.training else 0.)
        out = out.view(B, nh, nw, heads, wh, ww, d)
        return out.permute(0, 1, 4, 2, 5, 3, 6).reshape(B, Hp, Wp, C)


class MixingBlock(PreNormBlock):
    """Pre-norm MixFormer block (section 3.1):
    ``x = x + DropPath(Mix(LN(x)))``, ``x = x + DropPath(MLP(LN(x)))``.

    Before the mixing module the normalised map is zero-padded at the
    bottom/right to a multiple of the window, as in the reference (padded
    tokens take part in every branch, unmasked); its output is cropped back.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads.
        window_size (int): Window side.
        dwconv_kernel_size (int): Depthwise kernel.
        mlp_ratio (float): MLP hidden / input channels.
        qkv_bias (bool): Bias in the q/k/v projection.
        drop (float): Dropout after projections and in the MLP.
        attn_drop (float): Dropout on attention weights.
        drop_path (float): Stochastic depth of both residual branches.
        norm_cfg (dict): BatchNorms of the mixing module.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int = 7,
                 dwconv_kernel_size: int = 3,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop: float = 0.,
                 attn_drop: float = 0.,
                 drop_path: float = 0.,
                 norm_cfg: dict = dict(type='BN')):
        attn = MixingAttention(embed_dims, num_heads, window_size,
                               dwconv_kernel_size, qkv_bias, attn_drop, drop,
                               norm_cfg)
        super().__init__(embed_dims, attn, mlp_ratio, drop, drop_path)

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """x: (B, H, W, C) map, (H, W) = ``hw`` -> (B, H, W, C)."""
        H, W = hw
        mixed = self.attn(pad_to_multiple(self.norm1(x), *self.attn.window))
        x = self.drop_path.add_branch(x, crop_map(mixed, H, W))
        return self.drop_path.add_branch(x, self.mlp(self.norm2(x)))


def _arch(embed_dims, depths, num_heads, drop_path_rate):
    return dict(
        embed_dims=embed_dims,
        depths=depths,
        num_heads=num_heads,
        drop_path_rate=drop_path_rate)


@MODELS.register_module()
class MixFormer(HierarchicalBackbone):
    """MixFormer backbone B0-B6 (spec table; paper Table 3 for B1-B4).

    Stage i has ``embed_dims * 2^i`` channels and stride ``2^(i+2)``: a
    convolutional stem (stride 4), mixing blocks, and BatchNorm + Conv2x2
    merging after stages 1-3. Any input size works; see ``docs/mixformer.md``
    for how padding and the BatchNorms behave.

    Args:
        arch (str | dict): One of ``MixFormer.arch_zoo``: 'b0' ... 'b6' (also
            'mixformer-b0', ...). Or a dict with ``embed_dims`` (int C),
            ``depths`` and ``num_heads`` (4 entries each) and optionally
            ``drop_path_rate`` (default 0).
        in_channels (int): Image channels.
        window_size (int): Attention window side (7 in every variant).
        dwconv_kernel_size (int): Depthwise kernel of the conv branch (3).
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
            output, as Swin does in mmdet. The reference has none.
        norm_cfg (dict): The BatchNorms (stem, mixing modules, merging):
            ``dict(type='BN')`` (default), ``dict(type='SyncBN')``, or with
            ``requires_grad=False`` and ``norm_eval=True`` fully frozen.
        norm_eval (bool): Keep every BatchNorm in eval mode (running
            statistics, no update) during training, as mmdet's ResNet.
        frozen_stages (int): Freeze the stem (``>= 0``) and the first
            ``frozen_stages`` stages, each with the merging that follows it;
            -1 freezes nothing.
        with_cp (bool): Gradient checkpointing of every block.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained',
            checkpoint=PATH)`` with a file written by
            ``tools/model_converters/mixformer2mmvit.py``.
    """
    arch_zoo = {
        **dict.fromkeys(['b0', 'mixformer-b0'],
                        _arch(24, [1, 2, 6, 6], [3, 6, 12, 24], 0.)),
        **dict.fromkeys(['b1', 'mixformer-b1'],
                        _arch(32, [1, 2, 6, 6], [2, 4, 8, 16], 0.)),
        **dict.fromkeys(['b2', 'mixformer-b2'],
                        _arch(32, [2, 2, 8, 8], [2, 4, 8, 16], 0.05)),
        **dict.fromkeys(['b3', 'mixformer-b3'],
                        _arch(48, [2, 2, 8, 6], [3, 6, 12, 24], 0.1)),
        **dict.fromkeys(['b4', 'mixformer-b4'],
                        _arch(64, [2, 2, 8, 8], [4, 8, 16, 32], 0.2)),
        **dict.fromkeys(['b5', 'mixformer-b5'],
                        _arch(96, [1, 2, 8, 6], [6, 12, 24, 48], 0.3)),
        **dict.fromkeys(['b6', 'mixformer-b6'],
                        _arch(96, [2, 4, 16, 12], [6, 12, 24, 48], 0.5)),
    }
    optional_arch_keys = dict(drop_path_rate=0.)
    embed_dims_multiple = 2

    def __init__(self,
                 arch: Union[str, dict] = 'b4',
                 in_channels: int = 3,
                 window_size: int = 7,
                 dwconv_kernel_size: int = 3,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: Optional[float] = None,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 out_norms: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 norm_eval: bool = False,
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        settings = self._init_arch(arch, in_channels, out_indices,
                                   frozen_stages)
        if window_size < 1 or dwconv_kernel_size < 1 \
                or dwconv_kernel_size % 2 == 0:
            raise ValueError('window_size must be positive and '
                             'dwconv_kernel_size a positive odd number, got '
                             f'{window_size} and {dwconv_kernel_size}')
        self.norm_eval = norm_eval
        depths = settings['depths']
        dims = self._doubling_dims(settings)
        self.num_features = dims

        self.patch_embed = ConvStem(in_channels, dims[0], norm_cfg)
        dpr = self._drop_path_rates(drop_path_rate)
        self.stages = nn.ModuleList()
        for i, depth in enumerate(depths):
            blocks = [
                MixingBlock(
                    embed_dims=dims[i],
                    num_heads=settings['num_heads'][i],
                    window_size=window_size,
                    dwconv_kernel_size=dwconv_kernel_size,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    drop=drop_rate,
                    attn_drop=attn_drop_rate,
                    drop_path=dpr[i][j],
                    norm_cfg=norm_cfg) for j in range(depth)
            ]
            downsample = None
            if i < self.num_stages - 1:
                downsample = ConvMerging(dims[i], dims[i + 1], norm_cfg)
            self.stages.append(BackboneStage(blocks, downsample, with_cp))
        self._add_out_norms(out_norms, dict(type='LN'), dims)
        self._freeze_stages()

    @staticmethod
    def to_map(x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """Channels-last stage map (B, H, W, C) -> its (B, C, H, W) view."""
        return x.permute(0, 3, 1, 2)
