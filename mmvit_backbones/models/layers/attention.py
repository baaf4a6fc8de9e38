"""Multi-head attention cores built on ``F.scaled_dot_product_attention``.

Every attention in the package goes through :func:`attend`, so the fused
kernels (flash / memory-efficient on CUDA, flash on CPU) are used wherever the
inputs allow.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .symbolic import is_symbolic


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, L, C) -> (B, heads, L, C // heads)."""
    B, L, C = x.shape
    return x.view(B, L, num_heads, C // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, heads, L, d) -> (B, L, heads * d)."""
    B, h, L, d = x.shape
    return x.transpose(1, 2).reshape(B, L, h * d)


def attend(q: torch.Tensor,
           k: torch.Tensor,
           v: torch.Tensor,
           bias: Optional[torch.Tensor] = None,
           dropout_p: float = 0.) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + bias) v for (..., L, d) tensors.

    ``bias`` is an additive float mask broadcastable to (..., Lq, Lk); use
    ``-inf`` to forbid a pair.

    A bias that needs a gradient (a learned position bias in training) on
    CPU goes through :func:`explicit_attention`: PyTorch has no fused CPU
    kernel that returns the mask's gradient and falls back to its unfused
    path, which the explicit one beats by 25-40 % on window-sized groups.
    """
    if (bias is not None and bias.requires_grad and q.device.type == 'cpu'
            and torch.is_grad_enabled()):
        return explicit_attention(q, k, v, bias, dropout_p)
    if is_symbolic(q, k):
        # Inductor copies strided views into buffers of its own strides
        # before the fused kernel and keeps those for the backward; with
        # dynamic shapes, AOTAutograd then fixes the strides of the kept
        # copies to the first input size's numbers (torch 2.13), and the
        # next size failed the compiled backward's stride assertion.
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    if bias is not None and bias.dim() < q.dim():
        # PyTorch's fused CPU kernel only takes a mask with q's number of
        # dims; a shorter one sends it to the unfused path, which
        # materialises every group's attention matrix (2 GiB for
        # CrossFormer-S at 800 x 1344).
        bias = bias.view((1, ) * (q.dim() - bias.dim()) + bias.shape)
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=bias, dropout_p=dropout_p)


def explicit_attention(q: torch.Tensor,
                       k: torch.Tensor,
                       v: torch.Tensor,
                       bias: Optional[torch.Tensor] = None,
                       dropout_p: float = 0.) -> torch.Tensor:
    """:func:`attend` written out: the attention matrix is materialised."""
    logits = (q * q.shape[-1]**-0.5) @ k.transpose(-2, -1)
    if bias is not None:
        logits = logits + bias
    weights = F.dropout(logits.softmax(-1), dropout_p)
    return weights @ v


class MultiheadAttention(nn.Module):
    """Global multi-head self-attention over a token sequence.

    Args:
        embed_dims (int): Channels C of the tokens.
        num_heads (int): Attention heads; must divide ``embed_dims``.
        qkv_bias (bool): Bias in the q/k/v projection.
        attn_drop (float): Dropout on the attention weights.
        proj_drop (float): Dropout after the output projection.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.):
        super().__init__()
        check_heads(embed_dims, num_heads)
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, L, C) -> (B, L, C)."""
        B, L, C = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.num_heads,
                                   C // self.num_heads).permute(2, 0, 3, 1, 4)
        out = attend(q, k, v, dropout_p=self.attn_drop if self.training else 0.)
        return self.proj_drop(self.proj(merge_heads(out)))


class CrossAttention(nn.Module):
    """Multi-head attention of query tokens over a separate context sequence.

    Args:
        embed_dims (int): Channels C of queries, context and output.
        num_heads (int): Attention heads; must divide ``embed_dims``.
        qkv_bias (bool): Bias in the q and k/v projections.
        attn_drop (float): Dropout on the attention weights.
        proj_drop (float): Dropout after the output projection.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.):
        super().__init__()
        check_heads(embed_dims, num_heads)
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.q = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.kv = nn.Linear(embed_dims, embed_dims * 2, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """x: (B, Lq, C), context: (B, Lk, C) -> (B, Lq, C)."""
        B, Lk, C = context.shape
        q = split_heads(self.q(x), self.num_heads)
        k, v = self.kv(context).view(B, Lk, 2, self.num_heads,
                                     C // self.num_heads).permute(2, 0, 3, 1, 4)
        out = attend(q, k, v, dropout_p=self.attn_drop if self.training else 0.)
        return self.proj_drop(self.proj(merge_heads(out)))


def check_heads(embed_dims: int, num_heads: int) -> None:
    """Raise a clear error when ``num_heads`` does not divide ``embed_dims``."""
    if num_heads <= 0 or embed_dims % num_heads:
        raise ValueError(f'num_heads={num_heads} must be a positive divisor '
                         f'of embed_dims={embed_dims}')
