"""Parameter and FLOP counting of whole detectors, segmentors and classifiers.

A config's model is built and traced in tensor mode on one random image, with
the data samples a test-time forward needs made up from the image shape;
two-stage detectors run their RoI head on fixed, seeded proposals instead of
the RPN's weight-dependent NMS output (:func:`model_complexity` has the
rules). The count itself is
:func:`~mmvit_backbones.analysis.complexity.analyze_module`'s.
"""
import copy
import importlib
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from .complexity import (ComplexityResult, analyze_module, count_params,
                         flatten_tensors, height_width)

__all__ = [
    'DEFAULT_NUM_PROPOSALS', 'fixed_proposals', 'model_params',
    'model_complexity'
]


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
        return tuple(flatten_tensors(outputs))


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
        return tuple(flatten_tensors((rpn_outputs, roi_outputs)))


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
    height, width = height_width(shape)
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
