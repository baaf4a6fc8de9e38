"""Focal Transformer (Yang et al., "Focal Self-attention for Local-Global
Interactions in Vision Transformers", 2021).

Four stages of pre-norm blocks with window-wise focal attention (section
3.2): the queries of a 7x7 window attend its own tokens, a fine ring of
surrounding tokens and a coarse, pooled level covering a larger region, in
one softmax. The behaviour we follow (token order, duplicates, wrap-around,
bias tables) and our choices with their reasons are in ``docs/focal.md``.

All key/value tokens of a window are taken by a precomputed gather from
one source tensor (the padded map followed by the pooled map), instead of
the reference's rolls, window partitions, concatenations and index selects
of full maps. The attention runs in chunks of windows that gather their own
keys and build their own bias, so neither the keys nor the bias of every
window exist at once: one ``torch.library`` operator with a written-out
backward (:func:`focal_attention`), which ``torch.compile`` keeps whole.
Training off the CPU takes one gather and one
``scaled_dot_product_attention`` call instead (:func:`full_focal_attention`).
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.logging import print_log
from mmengine.model.weight_init import trunc_normal_
from mmengine.registry import MODELS
from torch import nn

from ..layers import (Conv2d, PreNormBlock, RelativePositionBias, attend,
                      crop_tokens, is_patchwise, pad_image_to_multiple,
                      pad_to_multiple, patch_linear, size_cache)
from ..layers.attention import check_heads
from .base import BackboneStage, HierarchicalBackbone

# Order of the four cyclic shifts (along H, W) that build the fine ring, in
# units of the expand size (spec, "fine surroundings").
RING_SHIFTS = ((-1, -1), (-1, 1), (1, -1), (1, 1))


def ring_offsets(window: int, expand: int) -> torch.Tensor:
    """Offsets (row, col) of the fine-ring keys from a window's top-left
    token, in the reference order (spec, step 2).

    For each shift (sh, sw) of :data:`RING_SHIFTS` (times ``expand``), the
    rolled map ``out[i] = in[i - shift]`` is cut into windows; position
    (r, c) of a rolled window holds the token at offset (r - sh, c - sw).
    Positions whose token lies inside the window itself on both axes are
    dropped; the others are kept row-major. With window 7 and expand 3 this
    gives 4 x 33 = 132 offsets, 12 of which appear twice.

    Returns:
        Tensor: (4 * (window^2 - (window - expand)^2), 2), int64.
    """
    offsets = []
    for sign_h, sign_w in RING_SHIFTS:
        for row in range(window):
            for col in range(window):
                dr, dc = row - sign_h * expand, col - sign_w * expand
                if not (0 <= dr < window and 0 <= dc < window):
                    offsets.append((dr, dc))
    return torch.tensor(offsets, dtype=torch.int64).view(-1, 2)


def ring_size(window: int, expand: int) -> int:
    """Number of fine-ring keys of a window (132 for window 7, expand 3)."""
    return 4 * (window**2 - (window - expand)**2) if expand else 0


def pooled_position_index(window: int, focal_window: int) -> torch.Tensor:
    """Row of the pooled-level bias table for every (query, pooled key).

    Query (qh, qw) of the window and key (kh, kw) of the focal_window x
    focal_window pooled region are compared on the same integer grid (spec,
    step 3): ``(qh - kh + fw - 1) * (window + fw - 1) + qw - kw + fw - 1``.

    Returns:
        Tensor: (window^2, focal_window^2), int64.
    """
    q = torch.arange(window)
    k = torch.arange(focal_window)
    dh = q[:, None] - k[None, :] + focal_window - 1  # (window, fw)
    index = dh[:, None, :, None] * (window + focal_window - 1) + \
        dh[None, :, None, :]
    return index.reshape(window**2, focal_window**2)


def use_fine_ring(hw: Tuple[int, int], window: int, expand: int) -> bool:
    """Whether a map gets the fine ring: never when ``expand`` is 0, and, as
    in the reference, not when its short side fits in one window."""
    return expand > 0 and min(hw) > window


@size_cache()
def focal_key_index(
        padded: Tuple[int, int], window: int, expand: int, ring: bool,
        focal_window: int,
        device: torch.device) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Which source rows every window attends to, and which are outside.

    The source holds the Hp * Wp tokens of the padded map (row-major)
    followed by the (Hp / window) * (Wp / window) pooled tokens. Window
    (r, c) attends, in this order: its own window^2 tokens (row-major); if
    ``ring``, the fine ring (:func:`ring_offsets`, wrapped cyclically as
    the reference's ``torch.roll``); the focal_window^2 pooled tokens
    centred on pooled position (r, c) (unfold, stride 1, zero padding
    focal_window // 2, row-major).

    Args:
        padded (tuple[int, int]): (Hp, Wp), multiples of ``window``.
        window (int): Window side.
        expand (int): Fine-ring width.
        ring (bool): Include the fine ring.
        focal_window (int): Pooled region side (odd).
        device (torch.device): Device of the results.

    Returns:
        tuple: ``index`` (num_windows * N,) int64 rows of the source, N
        keys per window, windows row-major; ``outside`` (1, num_windows, 1,
        focal_window^2) float for the last focal_window^2 keys (the pooled
        ones), -inf where the pooled key is outside the pooled map (its index
        is 0), 0 elsewhere, or None when no key is outside. Cached
        (:mod:`..layers.cache`); never modify the results in place.
    """
    Hp, Wp = padded
    ph, pw = Hp // window, Wp // window
    wr = torch.arange(ph)[:, None].expand(ph, pw).flatten()
    wc = torch.arange(pw)[None, :].expand(ph, pw).flatten()
    token = torch.arange(window**2)
    own = torch.stack([token // window, token % window], 1)
    offsets = torch.cat([own, ring_offsets(window, expand)]) if ring else own
    rows = (wr[:, None] * window + offsets[None, :, 0]) % Hp
    cols = (wc[:, None] * window + offsets[None, :, 1]) % Wp
    fine = rows * Wp + cols

    k = torch.arange(focal_window) - focal_window // 2
    pr = wr[:, None, None] + k[None, :, None]
    pc = wc[:, None, None] + k[None, None, :]
    inside = ((pr >= 0) & (pr < ph) & (pc >= 0) & (pc < pw)).flatten(1)
    pooled = (Hp * Wp + pr * pw + pc).flatten(1).masked_fill(~inside, 0)

    index = torch.cat([fine, pooled], 1).flatten().to(device)
    if focal_window == 1:  # the only region with no key outside the map
        return index, None
    outside = torch.zeros(ph * pw, focal_window**2)
    outside.masked_fill_(~inside, float('-inf'))
    return index, outside[None, :, None, :].to(device)


#: Bytes of one chunk's attention logits in :func:`focal_attention`:
#: on CPU a size that stays in the cache between the matmuls, the softmax
#: and their backward; elsewhere it only bounds the memory of the gathered
#: keys, values and biases of an inference forward.
CHUNK_BYTES = dict(cpu=2 << 20)
CHUNK_BYTES_DEFAULT = 256 << 20


def chunk_groups(num_groups: int, group_bytes: int, device: torch.device,
                 chunk_bytes: Optional[int] = None) -> int:
    """Groups (image, head, window) per chunk: ``chunk_bytes`` (None: by
    device, :data:`CHUNK_BYTES`) over the bytes of one group's logits, at
    least 1 and at most ``num_groups``."""
    if chunk_bytes is None:
        chunk_bytes = CHUNK_BYTES.get(device.type, CHUNK_BYTES_DEFAULT)
    return min(num_groups, max(1, chunk_bytes // group_bytes))


def chunk_keys(start: int, size: int, rows: torch.Tensor, heads: int,
               tokens: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where the groups ``start .. start + size - 1`` read from.

    Group g (rows of q flattened to (B * heads * windows), heads-major) is
    image-head ``g // windows`` and window ``g % windows``. Returns its
    head (for the bias table), its window (for the outside mask) and the
    (size * N,) rows of its keys in the (B * heads * tokens, d) source.
    """
    windows = rows.shape[0]
    group = torch.arange(start, start + size, device=rows.device)
    window, image_head = group % windows, group // windows
    keys = rows.index_select(0, window) + image_head[:, None] * tokens
    return image_head % heads, window, keys.flatten()


def write_chunk_bias(logits: torch.Tensor, head: torch.Tensor,
                     window: torch.Tensor, outside: Optional[torch.Tensor],
                     table: torch.Tensor) -> torch.Tensor:
    """Write the bias of a chunk's groups into ``logits`` (size, L, N): the
    heads' rows of ``table`` (heads, L, N), plus on the last P keys the
    windows' rows of ``outside`` (windows, 1, P) unless it is None.

    Written in place so that the logits' ``baddbmm_`` adds to it without a
    copy of the bias, and the mask only touches the pooled keys it covers.
    """
    torch.index_select(table, 0, head, out=logits)
    if outside is not None:
        logits[:, :, -outside.shape[-1]:].add_(outside.index_select(0, window))
    return logits


def gather_chunk_keys(k: torch.Tensor, v: torch.Tensor, key_rows: torch.Tensor,
                      keys: torch.Tensor,
                      values: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Gather a chunk's keys and values: the ``key_rows`` (count * N,) of
    the (rows, d) sources ``k`` and ``v`` go into the first ``count`` groups
    of the reused (size, N, d) buffers ``keys`` and ``values``, which are
    returned as (count, N, d) views."""
    _, N, d = keys.shape
    count = key_rows.shape[0] // N
    chunk_k, chunk_v = keys[:count], values[:count]
    torch.index_select(k, 0, key_rows, out=chunk_k.view(-1, d))
    torch.index_select(v, 0, key_rows, out=chunk_v.view(-1, d))
    return chunk_k, chunk_v


def chunk_weights(weights: torch.Tensor, q: torch.Tensor, keys: torch.Tensor,
                  head: torch.Tensor, window: torch.Tensor,
                  outside: Optional[torch.Tensor],
                  table: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + bias) of a chunk's groups, written into
    ``weights`` (size, L, N) and returned: q (size, L, d), keys (size, N,
    d), ``head`` and ``window`` of each group for :func:`write_chunk_bias`.

    The bias is written first and ``baddbmm_`` adds q k^T to it in place
    (no copy of the bias, which ``baddbmm`` with a separate bias makes);
    the softmax is taken in place. The forward and the backward of
    :func:`focal_attention` both call this, so the backward's weights are
    the forward's, bit for bit.
    """
    write_chunk_bias(weights, head, window, outside, table)
    weights.baddbmm_(q, keys.transpose(1, 2), alpha=q.shape[-1]**-0.5)
    return torch._softmax(weights, -1, False, out=weights)


@torch.library.custom_op('mmvit_backbones::focal_attention', mutates_args=())
def focal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                    table: torch.Tensor, rows: torch.Tensor,
                    outside: Optional[torch.Tensor], chunk_bytes: int,
                    dropout_p: float,
                    save: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d) + bias) v over groups of (image, head,
    window), chunk by chunk (eq. 3).

    An operator of its own (``torch.library``) with its backward written
    out (:func:`focal_attention_backward`): PyTorch's fused CPU kernels give
    no gradient of the bias table, and ``torch.compile`` keeps the operator
    whole, where tracing the chunk loop would unroll it into the graph and
    tie the graph to the input size.

    Each chunk of ``chunk_bytes`` of logits (:func:`chunk_groups`) gathers
    its keys and values from the sources into buffers that every chunk
    reuses. Without ``save`` it writes its bias (:func:`write_chunk_bias`)
    and makes one :func:`attend` call (fused kernel); with ``save`` (a
    backward will follow) it computes its attention weights in a reused
    buffer (:func:`chunk_weights`) and one ``bmm``. Nothing of the
    attention is kept for the backward, which recomputes the weights: on
    CPU that is cheaper than writing every window's weights (and keys) to
    fresh memory and reading them back. A chunk's logits and keys stay in
    the CPU's cache between these steps.

    Args:
        q (Tensor): (G, L, d), G = B * heads * windows groups, heads-major.
        k, v (Tensor): (B * heads * tokens, d) sources.
        table (Tensor): (heads, L, N) bias of every window's keys.
        rows (Tensor): (windows, N) source rows of a window's keys.
        outside (Tensor, optional): (windows, 1, P) -inf / 0 on the last P
            (pooled) keys, or None.
        chunk_bytes (int): Bytes of logits per chunk.
        dropout_p (float): Dropout on the attention weights.
        save (bool): A backward will follow: explicit weights, and the
            dropout mask returned.

    Returns:
        tuple: the output (G, L, d) and, with ``save`` and dropout, the
        dropout's scaled keep mask (G, L, N), otherwise an empty tensor.
    """
    G, L, d = q.shape
    N = rows.shape[1]
    tokens = k.shape[0] // (G // rows.shape[0])
    size = chunk_groups(G, L * N * q.element_size(), q.device, chunk_bytes)
    out = torch.empty_like(q)
    keys, values = q.new_empty(size, N, d), q.new_empty(size, N, d)
    weights = q.new_empty(size, L, N)
    keep = q.new_empty(G, L, N) if save and dropout_p else q.new_empty(0)
    with torch.autocast(q.device.type, enabled=False):
        for start in range(0, G, size):
            stop = min(start + size, G)
            head, window, key_rows = chunk_keys(start, stop - start, rows,
                                                table.shape[0], tokens)
            kc, vc = gather_chunk_keys(k, v, key_rows, keys, values)
            if not save:
                bias = write_chunk_bias(weights[:stop - start], head, window,
                                        outside, table)
                out[start:stop] = attend(q[None, start:stop], kc[None],
                                         vc[None], bias[None], dropout_p)[0]
                continue
            attention = chunk_weights(weights[:stop - start], q[start:stop],
                                      kc, head, window, outside, table)
            if dropout_p:
                mask = keep[start:stop].bernoulli_(1 - dropout_p)
                attention = attention * mask.div_(1 - dropout_p)
            torch.bmm(attention, vc, out=out[start:stop])
    return out, keep


@focal_attention.register_fake
def _focal_attention_shapes(q, k, v, table, rows, outside, chunk_bytes,
                            dropout_p, save):
    G, L, _ = q.shape
    keep = q.new_empty(G, L, rows.shape[1]) if save and dropout_p else \
        q.new_empty(0)
    return torch.empty_like(q), keep


@torch.library.custom_op('mmvit_backbones::focal_attention_backward',
                         mutates_args=())
def focal_attention_backward(
    grad_out: torch.Tensor, q: torch.Tensor, k: torch.Tensor,
    v: torch.Tensor, table: torch.Tensor, rows: torch.Tensor,
    outside: Optional[torch.Tensor], keep: torch.Tensor, chunk_bytes: int
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of q, k, v and the table for :func:`focal_attention`, from
    its inputs and dropout mask, chunk by chunk.

    A chunk gathers its keys and values again and recomputes its attention
    weights (:func:`chunk_weights`, the forward's bit for bit); then the
    arithmetic is PyTorch's: the same four matmuls and
    ``_softmax_backward_data`` as autograd through the explicit attention.
    The chunk's key, value and bias gradients are added straight into those
    of the sources and of the table (``index_add_``), so no gradient of
    every window's keys is formed.

    Returns:
        tuple: gradients of q (G, L, d), k and v (B * heads * tokens, d) and
        the table (heads, L, N).
    """
    G, L, d = q.shape
    N = rows.shape[1]
    tokens = k.shape[0] // (G // rows.shape[0])
    size = chunk_groups(G, L * N * q.element_size(), q.device, chunk_bytes)
    grad_q = torch.empty_like(q)
    grad_k, grad_v = torch.zeros_like(k), torch.zeros_like(v)
    grad_table = torch.zeros_like(table)
    keys, values = q.new_empty(size, N, d), q.new_empty(size, N, d)
    weights = q.new_empty(size, L, N)
    dropout = keep.numel() > 0
    with torch.autocast(q.device.type, enabled=False):
        for start in range(0, G, size):
            stop = min(start + size, G)
            head, window, key_rows = chunk_keys(start, stop - start, rows,
                                                table.shape[0], tokens)
            kc, vc = gather_chunk_keys(k, v, key_rows, keys, values)
            attention = chunk_weights(weights[:stop - start], q[start:stop],
                                      kc, head, window, outside, table)
            go = grad_out[start:stop]
            dropped = attention
            grad_weights = torch.bmm(go, vc.transpose(1, 2))
            if dropout:
                dropped = attention * keep[start:stop]
                grad_weights = grad_weights * keep[start:stop]
            grad_v.index_add_(
                0, key_rows,
                torch.bmm(dropped.transpose(1, 2), go).flatten(0, 1))
            grad_logits = torch._softmax_backward_data(
                grad_weights, attention, -1, attention.dtype)
            torch.bmm(grad_logits, kc, out=grad_q[start:stop])
            # Scaled once at the end: index_add_ with alpha takes a path
            # about 4x slower on CPU.
            grad_k.index_add_(
                0, key_rows,
                torch.bmm(grad_logits.transpose(1, 2),
                          q[start:stop]).flatten(0, 1))
            grad_table.index_add_(0, head, grad_logits)
    scale = d**-0.5
    return grad_q.mul_(scale), grad_k.mul_(scale), grad_v, grad_table


@focal_attention_backward.register_fake
def _focal_attention_backward_shapes(grad_out, q, k, v, table, rows, outside,
                                     keep, chunk_bytes):
    return (torch.empty_like(q), torch.empty_like(k), torch.empty_like(v),
            torch.empty_like(table))


def _save_for_focal_backward(ctx, inputs, output):
    """Autograd context of :func:`focal_attention`: its tensor inputs and
    the dropout mask."""
    q, k, v, table, rows, outside, chunk_bytes, _, save = inputs
    ctx.save_for_backward(q, k, v, table, rows, outside, output[1])
    # No gradient flows into the mask; autograd would otherwise fill a zero
    # gradient for it, as large as the logits.
    ctx.mark_non_differentiable(output[1])
    ctx.set_materialize_grads(False)
    ctx.chunk_bytes, ctx.saved = chunk_bytes, save


def _focal_backward(ctx, grad_out, unused):
    """Gradients of :func:`focal_attention`'s tensor inputs (none for
    ``rows``, ``outside`` and the settings)."""
    if grad_out is None:
        return (None, ) * 9
    if not ctx.saved:
        raise RuntimeError('focal_attention was called with save=False, so '
                           'it cannot run a backward pass')
    grads = focal_attention_backward(grad_out, *ctx.saved_tensors,
                                     ctx.chunk_bytes)
    return (*grads, None, None, None, None, None)


focal_attention.register_autograd(_focal_backward,
                                  setup_context=_save_for_focal_backward)


def full_focal_attention(q: torch.Tensor,
                         k: torch.Tensor,
                         v: torch.Tensor,
                         index: torch.Tensor,
                         outside: Optional[torch.Tensor],
                         table: torch.Tensor,
                         dropout_p: float = 0.) -> torch.Tensor:
    """:func:`chunked_focal_attention` in one piece: one gather of k and
    one of v giving (B, heads * windows, N, d), the bias of every window
    (heads * windows, window^2, N) and one :func:`attend` call."""
    B, G, area, d = q.shape
    k = k.index_select(2, index).view(B, G, -1, d)
    v = v.index_select(2, index).view(B, G, -1, d)
    bias = table[:, None]
    if outside is not None:
        bias = bias + F.pad(outside.to(table.dtype),
                            (k.shape[2] - outside.shape[-1], 0))
    bias = bias.expand(-1, G // table.shape[0], -1,
                       -1).reshape(G, area, k.shape[2])
    return attend(q, k, v, bias, dropout_p)


def chunked_focal_attention(q: torch.Tensor,
                            k: torch.Tensor,
                            v: torch.Tensor,
                            index: torch.Tensor,
                            outside: Optional[torch.Tensor],
                            table: torch.Tensor,
                            dropout_p: float = 0.,
                            chunk_bytes: Optional[int] = None) -> torch.Tensor:
    """Focal attention over groups of (image, head, window), chunk by chunk
    (:func:`focal_attention`).

    The groups are the rows of ``q`` flattened to (B * heads * windows),
    heads-major as in ``q``; a chunk holds ``chunk_bytes`` of attention
    logits (:func:`chunk_groups`) and gathers its own keys and values; the
    backward gathers them again and recomputes the attention weights. No
    tensor of every window's keys, biases or weights exists at once.

    Args:
        q (Tensor): (B, heads * windows, window^2, d).
        k, v (Tensor): (B, heads, tokens, d) sources (padded map then pooled
            tokens), contiguous.
        index (Tensor): (windows * N,) source rows, :func:`focal_key_index`.
        outside (Tensor, optional): (1, windows, 1, P) -inf / 0 mask of the
            last P (pooled) keys, or None.
        table (Tensor): (heads, window^2, N) bias of every window's keys, in
            q's dtype.
        dropout_p (float): Dropout on the attention weights.
        chunk_bytes (int, optional): Bytes of logits per chunk; None: by
            device (:data:`CHUNK_BYTES`, :data:`CHUNK_BYTES_DEFAULT`).

    Returns:
        Tensor: (B, heads * windows, window^2, d).
    """
    B, G, area, d = q.shape
    rows = index.view(G // k.shape[1], -1)
    if outside is not None:
        outside = outside.view(rows.shape[0], 1, -1).to(table.dtype)
    if chunk_bytes is None:
        chunk_bytes = CHUNK_BYTES.get(q.device.type, CHUNK_BYTES_DEFAULT)
    save = torch.is_grad_enabled() and any(
        t.requires_grad for t in (q, k, v, table))
    out = focal_attention(q.reshape(B * G, area, d), k.reshape(-1, d),
                          v.reshape(-1, d), table, rows, outside, chunk_bytes,
                          dropout_p, save)[0]
    return out.view(B, G, area, d)


class FocalWindowAttention(nn.Module):
    """Window-wise focal attention with two levels (section 3.2, eq. 3).

    For each window x window query window, the keys/values are its own
    tokens, the fine ring (``expand`` tokens around the window, taken as the
    reference does, see :func:`ring_offsets`) and the focal_window^2 pooled
    tokens around it; one softmax over all of them. Pooled tokens come from
    a learned ``Linear(window^2 -> 1)`` over each window x window sub-window
    (eq. 1, initialised to mean pooling) followed by the same qkv projection.

    Biases (spec): Swin's relative table for the own window; a dense learned
    (heads, window^2, ring) table for the ring; a (heads, (window + fw - 1)^2)
    relative table for the pooled level. Pooled keys outside the map are
    excluded (-inf; the reference adds -100 to zero keys, whose weight is
    then below float precision). Zero padding to a multiple of the window is
    not masked, as in the reference.

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads.
        window_size (int): Window side (7).
        expand_size (int): Fine-ring width (3); 0: no ring and no ring table.
        focal_window (int): Pooled region side (odd): 7, 5, 3, 1 per stage at
            224, 15, 13, 9, 7 for detection.
        qkv_bias (bool): Bias in the q/k/v projection.
        attn_drop (float): Dropout on the attention weights.
        proj_drop (float): Dropout after the output projection.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int = 7,
                 expand_size: int = 3,
                 focal_window: int = 7,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.):
        super().__init__()
        check_heads(embed_dims, num_heads)
        if not 0 <= expand_size < window_size:
            raise ValueError(f'expand_size must be in 0..{window_size - 1} '
                             f'(window {window_size}), got {expand_size}')
        if focal_window < 1 or focal_window % 2 == 0:
            raise ValueError('focal_window (pooled region size) must be a '
                             f'positive odd int, got {focal_window}')
        self.num_heads = num_heads
        self.window_size = window_size
        self.expand_size = expand_size
        self.focal_window = focal_window
        self.attn_drop = attn_drop
        area = window_size**2
        self.pool = nn.Linear(area, 1)
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.window_bias = RelativePositionBias((window_size, window_size),
                                                num_heads)
        self.ring_bias = None
        if expand_size:
            self.ring_bias = nn.Parameter(
                torch.zeros(num_heads, area, ring_size(window_size,
                                                       expand_size)))
        self.pooled_bias = nn.Parameter(
            torch.zeros(num_heads, (window_size + focal_window - 1)**2))
        self.register_buffer('pooled_index',
                             pooled_position_index(window_size, focal_window),
                             persistent=False)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        self.reset_focal_parameters()

    def reset_focal_parameters(self):
        """Bias tables ~ N(0, 0.02) truncated; pooling = mean (spec)."""
        for table in (self.window_bias.relative_position_bias_table,
                      self.ring_bias, self.pooled_bias):
            if table is not None:
                trunc_normal_(table, std=.02)
        nn.init.constant_(self.pool.weight, 1. / self.window_size**2)
        nn.init.zeros_(self.pool.bias)

    def attention_bias(self, ring: bool) -> torch.Tensor:
        """(heads, window^2, N) bias of every window's keys, in key order."""
        heads, area = self.num_heads, self.window_size**2
        pooled = self.pooled_bias[:, self.pooled_index.flatten()].view(
            heads, area, -1)
        parts = [self.window_bias()]
        if ring:
            parts.append(self.ring_bias)
        return torch.cat(parts + [pooled], -1)

    def pool_windows(self, x: torch.Tensor) -> torch.Tensor:
        """(B, Hp, Wp, C) padded map -> (B, Hp/w * Wp/w, C) pooled tokens."""
        B, Hp, Wp, C = x.shape
        w = self.window_size
        x = x.view(B, Hp // w, w, Wp // w, w, C)
        pooled = torch.einsum('bpiqjc,ij->bpqc', x, self.pool.weight.view(
            w, w)) + self.pool.bias
        return pooled.reshape(B, -1, C)

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """x: (B, H * W, C) -> (B, H * W, C)."""
        B, _, C = x.shape
        H, W = hw
        w, heads, d = self.window_size, self.num_heads, C // self.num_heads
        x = pad_to_multiple(x.view(B, H, W, C), w, w)
        Hp, Wp = x.shape[1:3]
        nh, nw = Hp // w, Wp // w
        ring = use_fine_ring(hw, w, self.expand_size)
        tokens = torch.cat([x.reshape(B, Hp * Wp, C), self.pool_windows(x)], 1)
        # (B, heads, Hp * Wp + pooled, d) each: a gather of key rows then
        # gives (heads * windows, keys, d) blocks, 4-D as the fused CPU
        # kernel requires. k and v stay separate sources (in the full form,
        # one gather of both would stack the two gradients in the backward).
        q, k, v = self.qkv(tokens).view(B, -1, 3, heads, d).permute(
            2, 0, 3, 1, 4).contiguous().unbind(0)
        q = q[:, :, :Hp * Wp].view(B, heads, nh, w, nw, w, d)
        q = q.permute(0, 1, 2, 4, 3, 5, 6).reshape(B, heads * nh * nw, w * w,
                                                   d)
        index, outside = focal_key_index(
            (Hp, Wp), w, self.expand_size, ring, self.focal_window,
            x.device)
        out = self.window_attention(q, k, v, index, outside,
                                    self.attention_bias(ring).to(q.dtype))
        out = out.view(B, heads, nh, nw, w, w, d).permute(0, 2, 4, 3, 5, 1, 6)
        out = crop_tokens(out.reshape(B, Hp, Wp, C), H, W)
        return self.proj_drop(self.proj(out))

    def window_attention(self, q: torch.Tensor, k: torch.Tensor,
                         v: torch.Tensor, index: torch.Tensor,
                         outside: Optional[torch.Tensor],
                         table: torch.Tensor) -> torch.Tensor:
        """Attention of every window over its keys: q (B, heads * windows,
        window^2, d), k and v (B, heads, tokens, d) sources, ``index`` and
        ``outside`` from :func:`focal_key_index`, ``table`` (heads,
        window^2, N) in q's dtype.

        Chunked (:func:`chunked_focal_attention`), eagerly and under
        ``torch.compile`` (one operator), except in training off the CPU,
        where PyTorch's fused kernels give the bias gradient
        (:func:`full_focal_attention`).
        """
        dropout_p = self.attn_drop if self.training else 0.
        if torch.is_grad_enabled() and q.device.type != 'cpu':
            return full_focal_attention(q, k, v, index, outside, table,
                                        dropout_p)
        return chunked_focal_attention(q, k, v, index, outside, table,
                                       dropout_p)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        """Adapt classification weights to other region sizes (section 4.2):
        resize the pooled-level table (bilinear) and keep this module's
        initial ring table where the checkpoint has none."""
        key = prefix + 'pooled_bias'
        table = state_dict.get(key)
        if table is not None and table.shape != self.pooled_bias.shape:
            state_dict[key] = resize_pooled_bias(table,
                                                 self.pooled_bias.shape[1])
            print_log(
                f'{key}: pooled-level bias table resized (bilinear) from '
                f'{tuple(table.shape)} to {tuple(self.pooled_bias.shape)} '
                f'for focal window {self.focal_window}',
                logger='current')
        ring_key = prefix + 'ring_bias'
        if (table is not None and self.ring_bias is not None
                and ring_key not in state_dict):
            state_dict[ring_key] = self.ring_bias.detach().clone()
            print_log(
                f'{ring_key}: not in the checkpoint (its stage had no fine '
                'ring); initialised from N(0, 0.02) truncated',
                logger='current')
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)


def resize_pooled_bias(table: torch.Tensor, size: int) -> torch.Tensor:
    """(heads, s^2) relative table -> (heads, size) by bilinear resizing of
    its square grid (``size`` a square)."""
    heads, n = table.shape
    src, dst = math.isqrt(n), math.isqrt(size)
    if src**2 != n or dst**2 != size:
        raise ValueError(f'pooled bias tables are square grids; cannot '
                         f'resize {n} entries to {size}')
    grid = table.view(1, heads, src, src).float()
    resized = F.interpolate(grid,
                            size=(dst, dst),
                            mode='bilinear',
                            align_corners=False)
    return resized.view(heads, size).to(table.dtype)


class FocalPatchEmbed(nn.Module):
    """Strided convolution then LayerNorm of the tokens (stem and the patch
    embedding between stages, spec "Macro layout").

    The input is first zero-padded at the bottom/right to a multiple of the
    stride, so the output is ceil(H / stride) x ceil(W / stride) for any
    size (nothing is padded when the size is a multiple of the stride).
    A kernel equal to its stride (all but the conv-stem variants) runs as a
    linear layer on the patches (:func:`patch_linear`).

    Args:
        in_channels (int): Input channels.
        embed_dims (int): Output channels.
        kernel_size (int): Kernel (4 / 2; conv-stem variants 7 / 3).
        stride (int): Down-sampling factor (4 stem, 2 between stages).
        padding (int): Convolution padding (0; conv-stem variants 2 / 1).
        norm_cfg (dict): Norm of the tokens.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 kernel_size: int,
                 stride: int,
                 padding: int = 0,
                 norm_cfg: dict = dict(type='LN')):
        super().__init__()
        self.stride = stride
        self.projection = Conv2d(in_channels, embed_dims, kernel_size,
                                 stride, padding)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """x: (B, C_in, H, W) -> tokens (B, H' * W', C) and (H', W')."""
        x = pad_image_to_multiple(x, self.stride)
        if is_patchwise(self.projection):
            x = patch_linear(x.permute(0, 2, 3, 1), self.projection)
            hw = tuple(x.shape[1:3])
            return self.norm(x.flatten(1, 2)), hw
        x = self.projection(x)
        hw = tuple(x.shape[2:])
        return self.norm(x.flatten(2).transpose(1, 2)), hw


class FocalTransformerBlock(PreNormBlock):
    """Pre-norm block: ``x = x + DropPath(FocalAttn(LN(x)))``,
    ``x = x + DropPath(MLP(LN(x)))`` (no window shift).

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads.
        window_size (int): Window side.
        expand_size (int): Fine-ring width (0: none).
        focal_window (int): Pooled region side.
        mlp_ratio (float): MLP hidden / input channels.
        qkv_bias (bool): Bias in the q/k/v projection.
        drop (float): Dropout after projections and in the MLP.
        attn_drop (float): Dropout on attention weights.
        drop_path (float): Stochastic depth rate.
        norm_cfg (dict): Norm layers.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: int,
                 expand_size: int,
                 focal_window: int,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop: float = 0.,
                 attn_drop: float = 0.,
                 drop_path: float = 0.,
                 norm_cfg: dict = dict(type='LN')):
        attn = FocalWindowAttention(embed_dims, num_heads, window_size,
                                    expand_size, focal_window, qkv_bias,
                                    attn_drop, drop)
        super().__init__(embed_dims, attn, mlp_ratio, drop, drop_path,
                         norm_cfg)


# (kernel, stride, padding) of the stem and of the between-stage embeddings.
PATCH_EMBED = {False: ((4, 4, 0), (2, 2, 0)), True: ((7, 4, 2), (3, 2, 1))}


def _arch(embed_dims, depths, num_heads, drop_path_rate, conv_embed=False):
    return dict(embed_dims=embed_dims,
                depths=depths,
                num_heads=num_heads,
                drop_path_rate=drop_path_rate,
                conv_embed=conv_embed)


def _names(short, long):
    """Aliases of an arch: 't', 'tiny', 'focal-t' and the conv-stem ones."""
    return [short, long, f'focal-{short}'
            ], [f'{short}-conv', f'{long}-conv', f'focal-{short}-conv']


def _zoo():
    zoo = {}
    for short, long, dims, depths, heads, dpr in (('t', 'tiny', 96, [
            2, 2, 6, 2
    ], [3, 6, 12, 24], 0.2), ('s', 'small', 96, [2, 2, 18, 2], [3, 6, 12, 24],
                              0.3), ('b', 'base', 128, [2, 2, 18,
                                                        2], [4, 8, 16,
                                                             32], 0.5)):
        plain, conv = _names(short, long)
        zoo.update(dict.fromkeys(plain, _arch(dims, depths, heads, dpr)))
        zoo.update(dict.fromkeys(conv, _arch(dims, depths, heads, dpr, True)))
    zoo.update(
        dict.fromkeys(['l', 'large', 'focal-l'],
                      _arch(196, [2, 2, 18, 2], [4, 8, 16, 32], 0.5)))
    return zoo


@MODELS.register_module()
class FocalTransformer(HierarchicalBackbone):
    """Focal Transformer backbone (paper Table 1, spec "Variants").

    Stage i has ``embed_dims * 2^i`` channels and stride ``2^(i+2)``; window
    7, MLP ratio 4, two focal levels (fine + one pooled level), no shift.

    Args:
        arch (str | dict): One of ``FocalTransformer.arch_zoo``: 't', 's',
            'b', 'l' (also 'tiny', ..., 'focal-t'), and the conv-stem variants
            't-conv', 's-conv', 'b-conv' (also 'tiny-conv', 'focal-t-conv').
            Or a dict with ``embed_dims`` (int C), ``depths`` and
            ``num_heads`` (4 entries each) and optionally ``drop_path_rate``
            (0.2) and ``conv_embed`` (False).
        in_channels (int): Image channels.
        window_size (int): Window side.
        expand_sizes (Sequence[int]): Fine-ring width per stage; 0 removes
            the ring and its bias table. (3, 3, 3, 0) is the ImageNet model
            (its stage-4 map is one window); dense configs use (3, 3, 3, 3).
            A map whose short side fits in a window gets no ring whatever
            this says (as the reference).
        focal_windows (Sequence[int]): Pooled region size per stage (odd):
            (7, 5, 3, 1) at 224, (15, 13, 9, 7) for detection.
        mlp_ratio (float): MLP expansion ratio.
        qkv_bias (bool): Bias in q/k/v projections.
        drop_rate (float): Dropout rate.
        attn_drop_rate (float): Attention dropout rate.
        drop_path_rate (float, optional): Stochastic depth, linear from 0 to
            this value over all blocks; None: the arch's.
        out_indices (Sequence[int]): Stages whose outputs are returned,
            (B, embed_dims * 2^i, ceil(H / 2^(i+2)), ceil(W / 2^(i+2))).
        out_norms (bool): LayerNorm ``norm{i}`` on every returned output
            (Swin-style; the converter maps the classifier's final norm to
            ``norm3``).
        frozen_stages (int): Freeze the stem (``>= 0``) and the first
            ``frozen_stages`` stages, each with the embedding that follows it;
            -1 freezes nothing.
        with_cp (bool): Gradient checkpointing of every block.
        norm_cfg (dict): Token norm (LayerNorm, eps 1e-5, as the reference).
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained',
            checkpoint=PATH)`` with a file written by
            ``tools/model_converters/focal2mmvit.py``.
    """
    arch_zoo = _zoo()
    optional_arch_keys = dict(drop_path_rate=0.2, conv_embed=False)
    embed_dims_multiple = 1

    def __init__(self,
                 arch: Union[str, dict] = 't',
                 in_channels: int = 3,
                 window_size: int = 7,
                 expand_sizes: Sequence[int] = (3, 3, 3, 0),
                 focal_windows: Sequence[int] = (7, 5, 3, 1),
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: Optional[float] = None,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 out_norms: bool = True,
                 frozen_stages: int = -1,
                 with_cp: bool = False,
                 norm_cfg: dict = dict(type='LN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        settings = self._init_arch(arch, in_channels, out_indices,
                                   frozen_stages)
        self.expand_sizes = self._per_stage('expand_sizes', expand_sizes, 0)
        self.focal_windows = self._per_stage('focal_windows', focal_windows)
        depths = settings['depths']
        dims = self._doubling_dims(settings)
        self.num_features = dims
        stem, merge = PATCH_EMBED[settings['conv_embed']]

        self.patch_embed = FocalPatchEmbed(in_channels, dims[0], *stem,
                                           norm_cfg)
        dpr = self._drop_path_rates(drop_path_rate)
        self.stages = nn.ModuleList()
        for i, depth in enumerate(depths):
            blocks = [
                FocalTransformerBlock(embed_dims=dims[i],
                                      num_heads=settings['num_heads'][i],
                                      window_size=window_size,
                                      expand_size=self.expand_sizes[i],
                                      focal_window=self.focal_windows[i],
                                      mlp_ratio=mlp_ratio,
                                      qkv_bias=qkv_bias,
                                      drop=drop_rate,
                                      attn_drop=attn_drop_rate,
                                      drop_path=dpr[i][j],
                                      norm_cfg=norm_cfg) for j in range(depth)
            ]
            downsample = None
            if i < self.num_stages - 1:
                downsample = FocalPatchEmbed(dims[i], dims[i + 1], *merge,
                                             norm_cfg)
            self.stages.append(BackboneStage(blocks, downsample, with_cp))
        self._add_out_norms(out_norms, norm_cfg, dims)
        self._freeze_stages()

    def init_weights(self):
        super().init_weights()
        if self.init_cfg is not None:
            return
        for module in self.modules():
            if isinstance(module, FocalWindowAttention):
                module.reset_focal_parameters()
