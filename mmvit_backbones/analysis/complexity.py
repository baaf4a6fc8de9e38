"""Parameter and FLOP counting of a module or a bare backbone.

FLOPs follow the convention of fvcore and of the papers that report model
cost: one fused multiply-add (MAC) counts as one FLOP. Counting is done by
MMEngine's :class:`~mmengine.analysis.FlopAnalyzer`, which traces the model
with ``torch.jit`` and applies a per-operator handle to every traced node,
with the handles of :mod:`mmvit_backbones.analysis.flop_handles` added.
Operators without a handle are reported by
:attr:`ComplexityResult.uncounted_ops` so that a caller can tell whether a
count is complete. Whole detectors, segmentors and classifiers are counted
by :mod:`mmvit_backbones.analysis.whole_model`.
"""
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer

from .backbone_spec import build_backbone
from .flop_handles import CHEAP_OPS, EXTRA_FLOP_HANDLES

__all__ = [
    'ComplexityResult', 'count_params', 'analyze_module',
    'backbone_complexity', 'height_width', 'flatten_tensors'
]


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


def backbone_complexity(backbone: Union[nn.Module, dict, str],
                        shape: Union[int, Sequence[int]] = 224,
                        batch: int = 1,
                        in_channels: int = 3,
                        scope: str = 'mmdet') -> ComplexityResult:
    """Parameters and FLOPs of a bare backbone on a ``(batch, C, H, W)`` input.

    Args:
        backbone: See
            :func:`~mmvit_backbones.analysis.backbone_spec.build_backbone`.
        shape (int | Sequence[int]): ``H`` (square) or ``(H, W)``.
        batch (int): Batch size of the input; FLOPs scale linearly with it.
        in_channels (int): Input channels.
        scope (str): Registry scope, see :func:`build_backbone`.
    """
    height, width = height_width(shape)
    model = build_backbone(backbone, scope)
    model.eval()  # not chained: some backbones' train() returns None
    inputs = torch.randn(batch, in_channels, height, width)
    return analyze_module(_FlatOutputs(model), inputs)


def height_width(shape: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """``(H, W)`` from ``H`` or ``(H,)`` or ``(H, W)``."""
    dims = [shape] if isinstance(shape, int) else list(shape)
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) < 1:
        raise ValueError(f'shape must be H or (H, W) with positive sizes, '
                         f'got {shape!r}')
    return int(dims[0]), int(dims[1])


def flatten_tensors(value: Any) -> List[torch.Tensor]:
    """All tensors in a nested tuple/list/dict, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in flatten_tensors(item)]
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
        return tuple(flatten_tensors(self.model(inputs)))
