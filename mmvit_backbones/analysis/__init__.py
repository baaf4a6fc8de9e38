"""Parameter and FLOP counting, apart from the models it measures.

* :mod:`.flop_handles`: FLOP handles for the operators MMEngine's
  ``FlopAnalyzer`` miscounts (matmul broadcasting, batched addmm, SDPA,
  einsum, anti-aliased resizing), and the operators left uncounted on
  purpose.
* :mod:`.complexity`: counting a module or a bare backbone.
* :mod:`.whole_model`: counting the detector, segmentor or classifier of a
  config (tensor-mode tracing, fixed proposals for two-stage detectors).
* :mod:`.backbone_spec`: backbone configs from the short specs that the
  tools' ``--backbone`` takes.

``mmvit_backbones.models`` imports nothing from here.
"""
from .backbone_spec import (BACKBONE_PRESETS, BackboneSpecError,
                            build_backbone, build_backbone_from_spec,
                            list_backbones, parse_backbone_spec,
                            parse_dict_expression)
from .complexity import (ComplexityResult, analyze_module,
                         backbone_complexity, count_params)
from .flop_handles import CHEAP_OPS, EXTRA_FLOP_HANDLES
from .whole_model import fixed_proposals, model_complexity, model_params

__all__ = [
    'BACKBONE_PRESETS', 'BackboneSpecError', 'build_backbone',
    'build_backbone_from_spec', 'list_backbones', 'parse_backbone_spec',
    'parse_dict_expression', 'ComplexityResult', 'analyze_module',
    'backbone_complexity', 'count_params', 'CHEAP_OPS', 'EXTRA_FLOP_HANDLES',
    'fixed_proposals', 'model_complexity', 'model_params'
]
