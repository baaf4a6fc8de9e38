"""Classification tails for ImageNet pretraining in the ``mmpretrain`` scope.

An mmpretrain ``ImageClassifier`` with one of our backbones needs a neck and
a head. MAFormer and Focal Transformer use mmpretrain's
``GlobalAveragePooling`` and ``LinearClsHead`` on the backbone's normalised
last stage; two families need a tail of their own:

* :class:`NormGlobalAveragePooling` (CrossFormer): the reference classifier
  normalises the last stage's tokens before pooling. The CrossFormer backbone
  has no output norms (neither has the reference detector), so this final
  norm belongs to the classification tail and is not loaded into detection
  or segmentation models.
* :class:`MixFormerClsHead` (MixFormer): after the final LayerNorm (the
  backbone's ``norm3``), a per-token ``Linear(8C, 1280)`` and GELU come
  *before* the pooling, then ``Linear(1280, num_classes)``
  (``docs/pretraining.md``).

This module imports mmpretrain's models (a few seconds), so it is not
imported by ``import mmvit_backbones``; the pretraining configs list it in
``custom_imports``.
"""
from typing import Sequence, Tuple, Union

import torch
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import nn

from ..utils.frameworks import require_framework

require_framework('mmpretrain', 'mmvit_backbones.models.classification')
from mmpretrain.models.heads import ClsHead  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402

__all__ = ['NormGlobalAveragePooling', 'MixFormerClsHead']

FeatureMaps = Union[torch.Tensor, Tuple[torch.Tensor, ...]]


def mean_of_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, L, C) tokens -> (B, C)."""
    return x.mean(dim=1)


def map_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) map -> (B, H*W, C) tokens."""
    return x.flatten(2).transpose(1, 2)


@MODELS.register_module()
class NormGlobalAveragePooling(BaseModule):
    """Normalise every position over channels, then average over positions.

    Like mmpretrain's ``GlobalAveragePooling``, a tuple of (B, C, H, W) maps
    gives a tuple of (B, C) vectors and a single map a single vector; all
    maps must have ``in_channels`` channels.

    Args:
        in_channels (int): Channels of the maps.
        norm_cfg (dict): The norm applied to each position's channels.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: int,
                 norm_cfg: dict = dict(type='LN'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.norm = build_norm_layer(norm_cfg, in_channels)[1]

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, C)."""
        return mean_of_tokens(self.norm(map_to_tokens(x)))

    def forward(self, inputs: FeatureMaps) -> FeatureMaps:
        if isinstance(inputs, tuple):
            return tuple(self.pool(x) for x in inputs)
        if isinstance(inputs, torch.Tensor):
            return self.pool(inputs)
        raise TypeError('NormGlobalAveragePooling takes a tensor or a tuple '
                        f'of tensors, got {type(inputs)}')


@MODELS.register_module()
class MixFormerClsHead(ClsHead):
    """The MixFormer classification head: per-token projection and
    activation, average pooling, linear classifier.

    It takes the backbone's last (already normalised) map,
    (B, in_channels, H, W); ``pre_logits`` gives the pooled
    (B, mid_channels) features.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of the last stage (8C).
        mid_channels (int): Width of the projection (1280 in every variant).
        act_cfg (dict): Activation after the projection.
        init_cfg (dict): Initialisation of the two linear layers.
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of ``ClsHead``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 mid_channels: int = 1280,
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: dict = dict(
                     type='TruncNormal', layer='Linear', std=0.02, bias=0.),
                 **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise ValueError(f'num_classes must be positive, got '
                             f'{num_classes}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.mid_channels = mid_channels
        self.proj = nn.Linear(in_channels, mid_channels)
        self.act = build_activation_layer(act_cfg)
        self.fc = nn.Linear(mid_channels, num_classes)

    def pre_logits(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """The last map -> (B, mid_channels) pooled features."""
        tokens = self.act(self.proj(map_to_tokens(feats[-1])))
        return mean_of_tokens(tokens)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """The last map -> (B, num_classes) logits."""
        return self.fc(self.pre_logits(feats))
