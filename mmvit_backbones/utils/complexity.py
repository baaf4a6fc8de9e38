"""Parameter and FLOP counting for backbones and whole detectors/segmentors.

FLOPs follow the convention of fvcore and of the papers that report model
cost: one fused multiply-add (MAC) counts as one FLOP. Counting is done by
MMEngine's :class:`~mmengine.analysis.FlopAnalyzer`, which traces the model
with ``torch.jit`` and applies a per-operator handle to every traced node.
This module adds or replaces the handles that MMEngine gets wrong or lacks:

* ``aten::scaled_dot_product_attention`` (MMEngine counts 0): the ``Q K^T``
  and ``A V`` products, ``B * heads * Lq * Lk * (d_qk + d_v)``, whatever
  mask, bias, dropout or causal flag is passed. Softmax, scaling and the mask
  addition are elementwise and, as for every elementwise op, not counted.
  A causal mask is counted as full attention, as dense kernels compute it.
* ``aten::matmul`` / ``aten::mm``: MMEngine's handle ignores broadcasting of
  the second operand's batch dimensions and undercounts ``(N, K) @ (B, K, M)``.
* ``aten::einsum``: MMEngine parses a rounded, scientific-notation string
  from ``numpy.einsum_path``; this handle computes the exact product sizes.
* ``aten::baddbmm`` / ``aten::addbmm`` (MMEngine counts 0); PyTorch's
  ``F.multi_head_attention_forward`` uses ``baddbmm`` when a mask is given.
* anti-aliased bilinear/bicubic resizing (``F.interpolate(...,
  antialias=True)``, MMEngine counts 0): one MAC per filter tap.

Operators without a handle are reported by
:attr:`ComplexityResult.uncounted_ops` so that a caller can tell whether a
count is complete.
"""
import ast
import copy
import importlib
import math
import string
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape
from mmengine.config import Config
from mmengine.registry import MODELS, Registry, init_default_scope

__all__ = [
    'ComplexityResult', 'CHEAP_OPS', 'EXTRA_FLOP_HANDLES',
    'analyze_module', 'backbone_complexity', 'model_complexity',
    'build_backbone', 'list_backbones', 'parse_dict_expression',
    'parse_backbone_spec', 'BACKBONE_PRESETS', 'fixed_proposals',
    'count_params', 'sdpa_flop_handle', 'matmul_flop_handle',
    'einsum_flop_handle', 'batched_addmm_flop_handle',
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


@dataclass
class ComplexityResult:
    """Parameter and FLOP count of one model at one input shape.

    Attributes:
        params (int): Number of parameters (shared parameters counted once).
        flops (int): Multiply-adds of one forward pass over ``input_shape``.
        input_shape (tuple[int, ...]): Shape of the traced input, ``(N, C, H,
            W)``; for detectors it is the shape after padding to the data
            preprocessor's size divisor.
        flops_by_operator (dict[str, int]): ``flops`` split by operator name.
        uncounted_ops (dict[str, int]): Traced operators that have no FLOP
            handle, mapped to the number of times each was called.
        notes (list[str]): How the input was built (e.g. fixed proposals).
    """
    params: int
    flops: int
    input_shape: Tuple[int, ...]
    flops_by_operator: Dict[str, int]
    uncounted_ops: Dict[str, int]
    notes: List[str] = field(default_factory=list)

    @property
    def significant_uncounted_ops(self) -> Dict[str, int]:
        """Uncounted operators that are not in :data:`CHEAP_OPS`."""
        return {
            op: calls
            for op, calls in self.uncounted_ops.items() if op not in CHEAP_OPS
        }


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
    'aten::matmul': matmul_flop_handle,
    'aten::mm': matmul_flop_handle,
    'aten::einsum': einsum_flop_handle,
    'aten::baddbmm': batched_addmm_flop_handle,
    'aten::addbmm': batched_addmm_flop_handle,
    'aten::_upsample_bilinear2d_aa': antialias_resize_flop_handle(2),
    'aten::_upsample_bicubic2d_aa': antialias_resize_flop_handle(4),
}


def count_params(module: nn.Module) -> int:
    """Number of parameters of ``module``; shared parameters count once."""
    return sum(p.numel() for p in module.parameters())


def analyze_module(
        module: nn.Module,
        inputs: Union[torch.Tensor, Tuple[torch.Tensor, ...]],
        notes: Optional[List[str]] = None,
        module_scales: Optional[Dict[str, float]] = None) -> ComplexityResult:
    """Count parameters and forward FLOPs of ``module`` on ``inputs``.

    Args:
        module (nn.Module): Model whose ``forward`` takes only tensors and
            returns tensors or (nested) tuples/lists of tensors.
        inputs (Tensor | tuple[Tensor]): Example inputs; the first tensor's
            shape is reported as ``input_shape``.
        notes (list[str], optional): Copied into the result.
        module_scales (dict[str, float], optional): Submodule name ->
            factor applied to its FLOPs in the total (for a branch the trace
            runs on more inputs than inference does); ``flops_by_operator``
            stays unscaled.

    Returns:
        ComplexityResult: Counts with :data:`EXTRA_FLOP_HANDLES` applied.
    """
    inputs = inputs if isinstance(inputs, tuple) else (inputs, )
    analyzer = FlopAnalyzer(module, inputs)
    analyzer.set_op_handle(**EXTRA_FLOP_HANDLES)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        flops = analyzer.total()
        by_module = analyzer.by_module()
    for name, scale in (module_scales or {}).items():
        flops -= (1 - scale) * by_module[name]
    return ComplexityResult(
        params=count_params(module),
        flops=int(flops),
        input_shape=tuple(inputs[0].shape),
        flops_by_operator={
            op: int(n)
            for op, n in analyzer.by_operator().most_common()
        },
        uncounted_ops=dict(analyzer.unsupported_ops().most_common()),
        notes=list(notes or []))


def parse_dict_expression(text: str) -> dict:
    """Parse a config-dict literal such as ``dict(type="MAFormer", arch="s")``.

    Accepts ``dict(...)`` calls with keyword arguments and ``{...}``, list,
    tuple and constant literals, nested freely. Nothing is executed.

    Raises:
        ValueError: If ``text`` is not such an expression or not a dict.
    """
    try:
        tree = ast.parse(text.strip(), mode='eval').body
    except SyntaxError as err:
        raise ValueError(f'cannot parse {text!r}: {err}') from err
    value = _literal(tree, text)
    if not isinstance(value, dict):
        raise ValueError(f'{text!r} is not a dict')
    return value


def _literal(node: ast.AST, text: str) -> Any:
    """Value of one node of a :func:`parse_dict_expression` expression."""
    if isinstance(node, ast.Call) and isinstance(
            node.func, ast.Name) and node.func.id == 'dict' and not node.args:
        return {kw.arg: _literal(kw.value, text) for kw in node.keywords}
    if isinstance(node, ast.Dict):
        return {
            _literal(k, text): _literal(v, text)
            for k, v in zip(node.keys, node.values)
        }
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(item, text) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    try:
        return ast.literal_eval(node)
    except ValueError as err:
        raise ValueError(
            f'{text!r}: only dict(...), {{...}}, lists, tuples and constants '
            f'are allowed, got {ast.dump(node)}') from err


# Named backbones accepted by :func:`parse_backbone_spec`.
BACKBONE_PRESETS = {
    # Swin-T as in mmdet's Mask R-CNN Swin-T config (ImageNet 224 variant).
    'swin-t':
    dict(
        type='SwinTransformer',
        embed_dims=96,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=7,
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3)),
}


def parse_backbone_spec(spec: str) -> dict:
    """Backbone config dict from a command-line spec.

    Args:
        spec (str): A preset name from :data:`BACKBONE_PRESETS` (``swin-t``),
            ``TYPE:ARCH`` (e.g. ``MAFormer:s`` for
            ``dict(type='MAFormer', arch='s')``), or a dict expression for
            :func:`parse_dict_expression`.

    Raises:
        ValueError: If ``spec`` is none of these.
    """
    spec = spec.strip()
    if spec.lower() in BACKBONE_PRESETS:
        return dict(BACKBONE_PRESETS[spec.lower()])
    if spec.startswith(('dict(', '{')):
        return parse_dict_expression(spec)
    type_name, colon, arch = spec.partition(':')
    if colon and type_name.isidentifier() and arch:
        return dict(type=type_name, arch=arch)
    raise ValueError(
        f'backbone spec {spec!r} is not a preset '
        f'({", ".join(BACKBONE_PRESETS)}), TYPE:ARCH or a dict expression')


def _scope_registry(scope: str) -> Registry:
    """The ``MODELS`` registry of an OpenMMLab scope, e.g. ``'mmdet'``."""
    try:
        return importlib.import_module(f'{scope}.registry').MODELS
    except ImportError as err:
        raise ValueError(f'unknown scope {scope!r}: {err}') from err


def list_backbones(scope: str = 'mmdet') -> List[str]:
    """Names of backbone classes buildable from ``scope``'s ``MODELS``.

    Includes the root registry, where this package registers its backbones.
    A class counts as a backbone when it lives in a ``backbones`` module.
    """
    registry = _scope_registry(scope)
    registry.import_from_location()
    names = set()
    while registry is not None:
        for name, cls in registry.module_dict.items():
            if '.backbones.' in f'{cls.__module__}.':
                names.add(name)
        registry = registry.parent
    return sorted(names)


def build_backbone(backbone: Union[nn.Module, dict, str],
                   scope: str = 'mmdet') -> nn.Module:
    """Build a backbone from a config dict, a spec string or a module.

    Args:
        backbone (nn.Module | dict | str): A built module (returned as is), a
            config dict with ``type``, or a spec for
            :func:`parse_backbone_spec`.
        scope (str): Registry scope searched first; the root registry (this
            package's backbones) is searched after it. Defaults to 'mmdet'.

    Raises:
        KeyError: If ``type`` is missing or not registered; the message lists
            the registered backbones.
    """
    if isinstance(backbone, nn.Module):
        return backbone
    cfg = parse_backbone_spec(backbone) if isinstance(
        backbone, str) else dict(backbone)
    if 'type' not in cfg:
        raise KeyError(f'backbone config {cfg} has no "type"')
    registry = _scope_registry(scope)
    if not isinstance(cfg['type'], type) and registry.get(cfg['type']) is None:
        raise KeyError(f'backbone type {cfg["type"]!r} is not registered in '
                       f'{scope!r} or the root registry; registered '
                       f'backbones: {", ".join(list_backbones(scope))}')
    return registry.build(cfg)


def build_backbone_or_exit(spec: str,
                           scope: str = 'mmdet',
                           overrides: Optional[dict] = None) -> nn.Module:
    """Build the backbone of a command-line ``--backbone`` spec.

    ``overrides`` (``--cfg-options``) are merged into the parsed config. A
    bad spec or setting (syntax, unknown type or arch, bad option) ends the
    program with ``error: --backbone SPEC: why`` instead of a traceback.
    """
    try:
        cfg = Config(parse_backbone_spec(spec))
        cfg.merge_from_dict(overrides or {})
        return build_backbone(cfg.to_dict(), scope)
    except (KeyError, TypeError, ValueError) as error:
        raise SystemExit(
            f'error: --backbone {spec}: {error.args[0]}') from None


def backbone_complexity(backbone: Union[nn.Module, dict, str],
                        shape: Union[int, Sequence[int]] = 224,
                        batch: int = 1,
                        in_channels: int = 3,
                        scope: str = 'mmdet') -> ComplexityResult:
    """Parameters and FLOPs of a bare backbone on a ``(batch, C, H, W)`` input.

    Args:
        backbone: See :func:`build_backbone`.
        shape (int | Sequence[int]): ``H`` (square) or ``(H, W)``.
        batch (int): Batch size of the input; FLOPs scale linearly with it.
        in_channels (int): Input channels.
        scope (str): Registry scope, see :func:`build_backbone`.
    """
    height, width = _hw(shape)
    model = build_backbone(backbone, scope)
    model.eval()  # not chained: some backbones' train() returns None
    inputs = torch.randn(batch, in_channels, height, width)
    return analyze_module(_FlatOutputs(model), inputs)


def _hw(shape: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """``(H, W)`` from ``H`` or ``(H,)`` or ``(H, W)``."""
    dims = [shape] if isinstance(shape, int) else list(shape)
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) < 1:
        raise ValueError(f'shape must be H or (H, W) with positive sizes, '
                         f'got {shape!r}')
    return int(dims[0]), int(dims[1])


def _flatten_tensors(value: Any) -> List[torch.Tensor]:
    """All tensors in a nested tuple/list/dict, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _flatten_tensors(item)]
    return []


class _FlatOutputs(nn.Module):
    """Wraps a tensor-in module so that it returns a flat tuple of tensors.

    Args:
        model (nn.Module): Module called as ``model(inputs)``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Run ``model`` on ``inputs`` (N, C, H, W); flatten its outputs."""
        return tuple(_flatten_tensors(self.model(inputs)))


class _TensorModeForward(nn.Module):
    """Runs a detector/segmentor/classifier with ``mode='tensor'`` on fixed
    data samples.

    Args:
        model (nn.Module): An mmdet ``BaseDetector``, an mmseg
            ``BaseSegmentor`` or an mmpretrain ``BaseClassifier``.
        data_samples (list, optional): One data sample with image metainfo
            per image; None for classifiers, which do not use them.
    """

    def __init__(self, model: nn.Module, data_samples: list) -> None:
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Backbone, neck, heads on ``inputs`` (N, 3, H, W); no post-proc."""
        outputs = self.model(inputs, self.data_samples, mode='tensor')
        return tuple(_flatten_tensors(outputs))


class _FixedProposalForward(nn.Module):
    """Two-stage detector forward with fixed proposals instead of RPN + NMS.

    Runs backbone, neck, the RPN head's convolutions and the RoI head on
    ``proposals``; the RPN's NMS, whose output size depends on the weights and
    the input, is skipped.

    Args:
        model (nn.Module): An mmdet ``TwoStageDetector``.
        data_samples (list): One ``DetDataSample`` per image.
        proposals (Tensor): Boxes ``(P, 4)`` in ``(x1, y1, x2, y2)`` pixels,
            used for every image.
    """

    def __init__(self, model: nn.Module, data_samples: list,
                 proposals: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.data_samples = data_samples
        self.register_buffer('proposals', proposals, persistent=False)

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Detector forward on ``inputs`` (N, 3, H, W) with fixed proposals."""
        from mmengine.structures import InstanceData
        feats = self.model.extract_feat(inputs)
        rpn_outputs = self.model.rpn_head(feats)
        proposals = [
            InstanceData(bboxes=self.proposals) for _ in self.data_samples
        ]
        roi_outputs = self.model.roi_head.forward(feats, proposals,
                                                  self.data_samples)
        return tuple(_flatten_tensors((rpn_outputs, roi_outputs)))


def fixed_proposals(num: int, height: int, width: int,
                    seed: int = 0) -> torch.Tensor:
    """``num`` deterministic boxes ``(num, 4)`` in a ``height x width`` image.

    Box centres are uniform over the image and sides uniform in
    ``[1/16, 1/2]`` of the image side, from a generator seeded with ``seed``.
    """
    generator = torch.Generator().manual_seed(seed)
    size = torch.tensor([width, height], dtype=torch.float32)
    centres = torch.rand(num, 2, generator=generator) * size
    sides = (1 / 16 + 7 / 16 * torch.rand(num, 2, generator=generator)) * size
    top_left = (centres - sides / 2).clamp(min=0)
    bottom_right = torch.minimum(centres + sides / 2, size)
    return torch.cat([top_left, bottom_right], dim=1)


DEFAULT_NUM_PROPOSALS = 1000


def _config_path(config: Union[str, Path]) -> str:
    """Path of a config file; ``pkg::rel/path.py`` names a config shipped
    in an installed OpenMMLab package (``<pkg>/.mim/configs/rel/path.py``)."""
    package, scoped, relative = str(config).partition('::')
    if not scoped:
        return str(config)
    try:
        package_dir = Path(importlib.import_module(package).__file__).parent
    except ImportError as err:
        raise FileNotFoundError(f'{config}: package {package!r} is not '
                                f'installed') from err
    path = package_dir / '.mim' / 'configs' / relative
    if not path.is_file():
        raise FileNotFoundError(f'{config}: no such config in {package}')
    return str(path)


def _load_config(config: Union[str, Path, Config, dict],
                 cfg_options: Optional[dict]) -> Config:
    """Config from a path, dict or Config, with ``cfg_options`` merged."""
    if isinstance(config, (str, Path)):
        cfg = Config.fromfile(_config_path(config))
    elif isinstance(config, Config):
        # Deep: building a model may change its config dicts in place.
        cfg = copy.deepcopy(config)
    else:
        cfg = Config(dict(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise KeyError('config has no "model" entry')
    return cfg


def _num_proposals(model: nn.Module) -> int:
    """Proposals the RPN keeps per image at test time (``max_per_img``)."""
    test_cfg = model.test_cfg or {}
    rpn_cfg = test_cfg.get('rpn') or {}
    return int(rpn_cfg.get('max_per_img', DEFAULT_NUM_PROPOSALS))


def _uses_fixed_proposals(model: nn.Module) -> bool:
    """True for two-stage detectors whose RPN ends in NMS."""
    from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
    from mmdet.models.detectors import TwoStageDetector
    return isinstance(model, TwoStageDetector) and isinstance(
        getattr(model, 'rpn_head', None), BaseDenseHead)


def _per_proposal_mask_scales(model: nn.Module,
                              num_proposals: int) -> Dict[str, float]:
    """FLOP scales of the mask branch of cascade RoI heads.

    mmdet's ``CascadeRoIHead`` (and HTC) run every stage's mask head on all
    proposals in tensor mode, but at test time only on the final detections
    (at most ``test_cfg.rcnn.max_per_img`` per image), as
    ``StandardRoIHead``'s tensor mode does by taking the first 100. The mask
    branch is linear in the number of RoIs, so it is scaled by
    detections / proposals.
    """
    from mmdet.models.roi_heads import CascadeRoIHead
    roi_head = model.roi_head
    if not isinstance(roi_head, CascadeRoIHead) or not roi_head.with_mask:
        return {}
    rcnn_cfg = (model.test_cfg or {}).get('rcnn') or {}
    detections = min(int(rcnn_cfg.get('max_per_img', 100)), num_proposals)
    scale = detections / num_proposals
    return {
        'model.roi_head.mask_roi_extractor': scale,
        'model.roi_head.mask_head': scale
    }


def _detector_forward(
        model: nn.Module, height: int,
        width: int) -> Tuple[nn.Module, List[str], Dict[str, float]]:
    """Tensor-in wrapper of an mmdet detector, notes on how it runs and
    FLOP scales of submodules (see :func:`analyze_module`)."""
    from mmdet.structures import DetDataSample
    shape = (height, width)
    data_samples = [
        DetDataSample(
            metainfo=dict(
                img_shape=shape,
                ori_shape=shape,
                pad_shape=shape,
                batch_input_shape=shape,
                scale_factor=(1.0, 1.0)))
    ]
    if not _uses_fixed_proposals(model):
        return _TensorModeForward(model, data_samples), [], {}
    num = _num_proposals(model)
    wrapper = _FixedProposalForward(model, data_samples,
                                    fixed_proposals(num, height, width))
    notes = [f'two-stage detector: RPN convolutions counted, its NMS skipped; '
             f'RoI head run on {num} fixed proposals '
             f'(test_cfg.rpn.max_per_img)']
    scales = _per_proposal_mask_scales(model, num)
    if scales:
        detections = round(next(iter(scales.values())) * num)
        notes.append(f'cascade mask heads counted on {detections} of the '
                     f'{num} RoIs (test_cfg.rcnn.max_per_img), as at test '
                     'time; flops_by_operator counts all of them')
    return wrapper, notes, scales


def _segmentor_forward(model: nn.Module, height: int,
                       width: int) -> Tuple[nn.Module, List[str]]:
    """Tensor-in wrapper of an mmseg segmentor (whole-image inference)."""
    from mmseg.structures import SegDataSample
    shape = (height, width)
    data_samples = [
        SegDataSample(
            metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape))
    ]
    return _TensorModeForward(model, data_samples), []


def _dense_or_classifier_forward(
        model: nn.Module, height: int,
        width: int) -> Tuple[nn.Module, List[str]]:
    """Tensor-in wrapper of an mmseg segmentor (whole-image inference) or
    an mmpretrain classifier (backbone, neck, head up to the class scores).

    Raises:
        TypeError: If ``model`` is neither.
    """
    from mmseg.models.segmentors import BaseSegmentor
    if isinstance(model, BaseSegmentor):
        return _segmentor_forward(model, height, width)
    from mmpretrain.models.classifiers import BaseClassifier
    if isinstance(model, BaseClassifier):
        return _TensorModeForward(model, None), []
    raise TypeError(f'{type(model).__name__} is neither an mmdet detector, '
                    f'an mmseg segmentor nor an mmpretrain classifier')


def _padded(size: int, divisor: int) -> int:
    """``size`` rounded up to a multiple of ``divisor``."""
    return -(-size // divisor) * divisor


def model_params(config: Union[str, Path, Config, dict],
                 cfg_options: Optional[dict] = None) -> int:
    """Parameters of the whole model a config builds (in its
    ``default_scope``, ``mmdet`` if unset), without tracing it."""
    cfg = _load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return count_params(MODELS.build(cfg.model))


def model_complexity(config: Union[str, Path, Config, dict],
                     shape: Union[int, Sequence[int]],
                     cfg_options: Optional[dict] = None,
                     in_channels: int = 3) -> ComplexityResult:
    """Parameters and FLOPs of a whole detector, segmentor or classifier.

    The model is built in the config's ``default_scope`` (``mmdet`` if unset)
    and traced on one random image of shape ``(1, in_channels, H, W)``,
    without dataset or data preprocessor:

    * detectors: ``H`` and ``W`` are padded up to the data preprocessor's
      ``pad_size_divisor``, as at test time. Two-stage detectors with an
      NMS-based RPN run the RoI head on ``test_cfg.rpn.max_per_img`` fixed,
      seeded proposals (see :func:`fixed_proposals`); the RoI head's own
      rules then apply (``StandardRoIHead`` runs the mask head on the first
      100; cascade heads' mask branches are counted for
      ``test_cfg.rcnn.max_per_img`` RoIs, see
      :func:`_per_proposal_mask_scales`). Other detectors run
      ``forward(mode='tensor')``.
    * segmentors: ``forward(mode='tensor')``, i.e. whole-image inference
      through backbone, neck and decode head; auxiliary heads are used in
      training only and not counted.
    * classifiers (mmpretrain): ``forward(mode='tensor')``, i.e. backbone,
      neck and head up to the class scores.

    Args:
        config (str | Path | Config | dict): Config file (also
            ``mmdet::path/in/mmdet/configs.py``) or object.
        shape (int | Sequence[int]): ``H`` (square) or ``(H, W)``.
        cfg_options (dict, optional): Overrides merged into the config.
        in_channels (int): Input channels. Defaults to 3.
    """
    cfg = _load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.eval()
    height, width = _hw(shape)
    from mmdet.models.detectors import BaseDetector
    if isinstance(model, BaseDetector):
        divisor = getattr(model.data_preprocessor, 'pad_size_divisor', 1)
        height, width = _padded(height, divisor), _padded(width, divisor)
        wrapper, notes, scales = _detector_forward(model, height, width)
    else:
        wrapper, notes = _dense_or_classifier_forward(model, height, width)
        scales = {}
    inputs = torch.randn(1, in_channels, height, width)
    return analyze_module(wrapper, inputs, notes, scales)
