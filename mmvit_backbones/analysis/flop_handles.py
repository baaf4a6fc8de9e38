"""FLOP handles for the operators MMEngine miscounts or does not count.

FLOPs follow the convention of fvcore and of the papers that report model
cost: one fused multiply-add (MAC) counts as one FLOP. MMEngine's
:class:`~mmengine.analysis.FlopAnalyzer` traces a model with ``torch.jit``
and applies a per-operator handle to every traced node;
:data:`EXTRA_FLOP_HANDLES` adds or replaces the handles that it gets wrong or
lacks:

* ``aten::scaled_dot_product_attention`` (MMEngine counts 0): the ``Q K^T``
  and ``A V`` products, ``B * heads * Lq * Lk * (d_qk + d_v)``, whatever
  mask, bias, dropout or causal flag is passed. Softmax, scaling and the mask
  addition are elementwise and, as for every elementwise op, not counted.
  A causal mask is counted as full attention, as dense kernels compute it.
* ``mmvit_backbones::focal_attention`` (Focal's chunked attention operator,
  unknown to MMEngine): the same two products over its windows' keys.
* ``aten::matmul`` / ``aten::mm``: MMEngine's handle ignores broadcasting of
  the second operand's batch dimensions and undercounts ``(N, K) @ (B, K, M)``.
* ``aten::einsum``: MMEngine parses a rounded, scientific-notation string
  from ``numpy.einsum_path``; this handle computes the exact product sizes.
* ``aten::baddbmm`` / ``aten::addbmm`` (MMEngine counts 0); PyTorch's
  ``F.multi_head_attention_forward`` uses ``baddbmm`` when a mask is given.
* anti-aliased bilinear/bicubic resizing (``F.interpolate(...,
  antialias=True)``, MMEngine counts 0): one MAC per filter tap.

:data:`CHEAP_OPS` lists the operators that are deliberately left uncounted.
"""
import math
import string
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import torch
from mmengine.analysis.jit_handles import get_shape

__all__ = [
    'CHEAP_OPS', 'EXTRA_FLOP_HANDLES', 'sdpa_flop_handle',
    'focal_attention_flop_handle',
    'matmul_flop_handle', 'einsum_flop_handle', 'batched_addmm_flop_handle',
    'antialias_resize_flop_handle'
]

# Elementwise, reduction, pooling, data-movement (indexing, the ``im2col`` of
# ``nn.Unfold``) and eval-mode dropout ops. By the fvcore convention they are
# not counted; they are cheap next to the matmuls and convolutions, so
# ``ComplexityResult.significant_uncounted_ops`` leaves them out.
CHEAP_OPS = frozenset({
    'aten::abs', 'aten::adaptive_max_pool2d', 'aten::add', 'aten::add_',
    'aten::all', 'aten::any', 'aten::argmax', 'aten::avg_pool2d',
    'aten::clone', 'aten::col2im', 'aten::cos', 'aten::cumsum', 'aten::div',
    'aten::div_', 'aten::elu', 'aten::erf', 'aten::exp', 'aten::expand_as',
    'aten::feature_dropout', 'aten::fill_', 'aten::gelu', 'aten::hardsigmoid',
    'aten::hardswish', 'aten::hardtanh', 'aten::im2col', 'aten::index_select',
    'aten::le', 'aten::leaky_relu', 'aten::linspace', 'aten::log',
    'aten::log2', 'aten::log_softmax', 'aten::lt', 'aten::masked_fill_',
    'aten::max_pool2d', 'aten::maximum', 'aten::mean', 'aten::min',
    'aten::minimum', 'aten::mul', 'aten::mul_', 'aten::ne', 'aten::neg',
    'aten::new_ones', 'aten::new_tensor', 'aten::norm', 'aten::pad',
    'aten::pixel_shuffle', 'aten::pixel_unshuffle',
    'aten::pow', 'aten::repeat', 'aten::rsqrt', 'aten::rsub', 'aten::sigmoid',
    'aten::sigmoid_', 'aten::silu', 'aten::silu_', 'aten::sin',
    'aten::softmax', 'aten::sort', 'aten::sqrt', 'aten::std', 'aten::sub',
    'aten::sub_', 'aten::sum', 'aten::tanh', 'aten::tensor', 'aten::topk',
    'aten::unflatten', 'aten::var', 'aten::where', 'aten::zero_'
})


def _shape(value: Any) -> List[int]:
    """Shape of a traced tensor value; raises if the trace lost it."""
    shape = get_shape(value)
    if shape is None:
        raise ValueError(f'traced value {value} has no complete tensor shape')
    return shape


def _broadcast_batch(*batch_shapes: Sequence[int]) -> int:
    """Number of elements of the broadcast of several batch shapes."""
    return math.prod(torch.broadcast_shapes(*map(tuple, batch_shapes)))


def matmul_flop_handle(inputs: List[Any], outputs: List[Any]) -> int:
    """MACs of ``aten::matmul``/``aten::mm`` with full broadcasting.

    ``(*Ba, N, K) @ (*Bb, K, M)`` costs
    ``prod(broadcast(Ba, Bb)) * N * K * M``; 1-D operands are promoted as
    ``torch.matmul`` does.
    """
    a_shape, b_shape = _shape(inputs[0]), _shape(inputs[1])
    if len(a_shape) == 1:
        a_shape = [1] + a_shape
    if len(b_shape) == 1:
        b_shape = b_shape + [1]
    *a_batch, n, k = a_shape
    *b_batch, k_b, m = b_shape
    if k != k_b:
        raise ValueError(f'matmul inner sizes differ: {a_shape} @ {b_shape}')
    return _broadcast_batch(a_batch, b_batch) * n * k * m


def batched_addmm_flop_handle(inputs: List[Any], outputs: List[Any]) -> int:
    """MACs of ``aten::baddbmm``/``aten::addbmm``: ``(B, N, K) @ (B, K, M)``.

    Inputs are ``(self, batch1, batch2, beta, alpha)``; the scaled addition of
    ``self`` is elementwise and not counted.
    """
    batch, n, k = _shape(inputs[1])
    m = _shape(inputs[2])[-1]
    return batch * n * k * m


def sdpa_flop_handle(inputs: List[Any], outputs: List[Any]) -> int:
    """MACs of ``aten::scaled_dot_product_attention``.

    Inputs are ``(query (*B, Lq, E), key (*B, Lk, E), value (*B, Lk, Ev),
    attn_mask, dropout_p, is_causal, scale, enable_gqa)``. The count is
    ``prod(B) * Lq * Lk * E`` for ``Q K^T`` plus ``prod(B) * Lq * Lk * Ev`` for
    ``A V``, where ``B`` broadcasts the three batch shapes; with grouped-query
    attention (key/value have fewer heads) the query's batch shape is used.
    """
    *q_batch, len_q, dim_qk = _shape(inputs[0])
    *k_batch, len_k, _ = _shape(inputs[1])
    *v_batch, _, dim_v = _shape(inputs[2])
    try:
        batch = _broadcast_batch(q_batch, k_batch, v_batch)
    except RuntimeError:
        batch = math.prod(q_batch)
    return batch * len_q * len_k * (dim_qk + dim_v)


def focal_attention_flop_handle(inputs: List[Any],
                                outputs: List[Any]) -> int:
    """MACs of ``mmvit_backbones::focal_attention``.

    Inputs are ``(q (G, L, d), k, v, table, rows (windows, N), ...)``: G
    groups of L queries, each attending N keys; ``Q K^T`` and ``A V`` give
    ``G * L * N * 2d``.
    """
    groups, len_q, dim = _shape(inputs[0])
    len_k = _shape(inputs[4])[1]
    return groups * len_q * len_k * 2 * dim


def _einsum_terms(equation: str,
                  shapes: List[List[int]]) -> Tuple[List[str], str]:
    """Per-operand index strings and output string with ``...`` expanded.

    Ellipses are replaced by letters that do not occur in ``equation``; an
    implicit output (no ``->``) follows ``torch.einsum``: broadcast dims, then
    the letters used once, sorted.
    """
    equation = equation.replace(' ', '')
    lhs, arrow, rhs = equation.partition('->')
    terms = lhs.split(',')
    ellipsis_dims = max([
        len(shape) - len(term.replace('...', ''))
        for term, shape in zip(terms, shapes) if '...' in term
    ] or [0])
    spare = [c for c in string.ascii_letters if c not in equation]
    ellipsis = ''.join(spare[:ellipsis_dims])
    expanded = []
    for term, shape in zip(terms, shapes):
        own_dims = len(shape) - len(term.replace('...', ''))
        expanded.append(
            term.replace('...', ellipsis[ellipsis_dims - own_dims:]))
    if arrow:
        output = rhs.replace('...', ellipsis)
    else:
        letters = ''.join(terms).replace('.', '')
        output = ellipsis + ''.join(
            sorted(c for c in set(letters) if letters.count(c) == 1))
    return expanded, output


def _einsum_flops(terms: List[str], output: str,
                  shapes: List[List[int]]) -> int:
    """Exact MACs of an einsum contracted along numpy's optimal path.

    Contracting operands whose indices together span ``U`` costs
    ``prod(size[u] for u in U)`` per multiplication step.
    """
    sizes: Dict[str, int] = {}
    for term, shape in zip(terms, shapes):
        for letter, size in zip(term, shape):
            sizes[letter] = max(sizes.get(letter, 1), size)
    if len(terms) < 2:
        return 0
    views = [np.broadcast_to(np.zeros(()), shape) for shape in shapes]
    path = np.einsum_path(
        f"{','.join(terms)}->{output}", *views, optimize='optimal')[0][1:]
    remaining = [set(term) for term in terms]
    flops = 0
    for contraction in path:
        picked = [remaining[i] for i in contraction]
        for i in sorted(contraction, reverse=True):
            del remaining[i]
        spanned = set().union(*picked)
        flops += (len(picked) - 1) * math.prod(sizes[c] for c in spanned)
        still_needed = set(output).union(*remaining)
        remaining.append(spanned & still_needed)
    return flops


def einsum_flop_handle(inputs: List[Any], outputs: List[Any]) -> int:
    """Exact MACs of ``aten::einsum(equation, operands)``.

    Supports any number of operands, ``...`` and implicit output.
    """
    equation = inputs[0].toIValue()
    shapes = [_shape(v) for v in inputs[1].node().inputs()]
    terms, output = _einsum_terms(equation, shapes)
    return _einsum_flops(terms, output, shapes)


def _antialias_taps(in_size: int, out_size: int, interp_size: int) -> int:
    """Filter taps per output of PyTorch's anti-aliased 1-D resampling.

    The filter support is ``interp_size / 2`` input pixels, stretched by the
    scale ``in_size / out_size`` when down-sampling; ``2 * ceil(support) + 1``
    taps cover it.
    """
    support = interp_size / 2 * max(in_size / out_size, 1.0)
    return 2 * math.ceil(support) + 1


def antialias_resize_flop_handle(interp_size: int):
    """Handle for ``aten::_upsample_{bilinear,bicubic}2d_aa`` (N, C, H, W).

    The resampling is separable and done as PyTorch does it: along W over
    the ``H_in`` rows, then along H; each output of a pass costs one MAC per
    filter tap. A pass whose size does not change is skipped.

    Args:
        interp_size (int): 2 for bilinear, 4 for bicubic.
    """

    def handle(inputs: List[Any], outputs: List[Any]) -> int:
        batch, channels, in_h, in_w = _shape(inputs[0])
        out_h, out_w = _shape(outputs[0])[-2:]
        flops = 0
        if in_w != out_w:
            flops += in_h * out_w * _antialias_taps(in_w, out_w, interp_size)
        if in_h != out_h:
            flops += out_h * out_w * _antialias_taps(in_h, out_h, interp_size)
        return batch * channels * flops

    return handle


EXTRA_FLOP_HANDLES = {
    'aten::scaled_dot_product_attention': sdpa_flop_handle,
    'mmvit_backbones::focal_attention': focal_attention_flop_handle,
    'aten::matmul': matmul_flop_handle,
    'aten::mm': matmul_flop_handle,
    'aten::einsum': einsum_flop_handle,
    'aten::baddbmm': batched_addmm_flop_handle,
    'aten::addbmm': batched_addmm_flop_handle,
    'aten::_upsample_bilinear2d_aa': antialias_resize_flop_handle(2),
    'aten::_upsample_bicubic2d_aa': antialias_resize_flop_handle(4),
}
