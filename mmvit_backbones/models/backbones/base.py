"""The one skeleton of the package's four-stage backbones.

Every family (MAFormer, CrossFormer, Focal Transformer, MixFormer) is a
:class:`HierarchicalBackbone`: a stem, four :class:`BackboneStage` s and
optional output norms, run by the base's :meth:`~HierarchicalBackbone.
forward`. The base also owns the ``arch_zoo`` and custom-arch parsing,
``out_indices``, ``frozen_stages`` / ``norm_eval`` (one freezing rule),
``with_cp``, the drop path schedule, input checks and initialisation, with
the same error messages for every family.

Parameter layout (the state-dict keys every family shares)::

    patch_embed            stem: image (B, C_in, H, W) -> (x, (H0, W0))
    stages.{i}.blocks.{j}  block j of stage i: block(x, hw) -> x
    stages.{i}.downsample  merging after stage i (None for the last stage):
                           (B, C_i, H_i, W_i) map -> (x, (H_{i+1}, W_{i+1}))
    norm{i}                norm of output i (where the family has them)

``x`` is the family's feature layout inside a stage: tokens (B, H * W, C)
by default, or whatever :meth:`~HierarchicalBackbone.to_map` turns into a
(B, C, H, W) map (MixFormer keeps channels-last (B, H, W, C) maps). Outputs
are taken after a stage's blocks and before its merging.

Adding a family is copying this pattern::

    @MODELS.register_module()
    class NewFormer(HierarchicalBackbone):
        arch_zoo = {**dict.fromkeys(['s', 'small'], dict(
            embed_dims=64, depths=[2, 2, 6, 2], num_heads=[2, 4, 8, 16]))}

        def __init__(self, arch='s', in_channels=3, drop_path_rate=0.1,
                     out_indices=(0, 1, 2, 3), out_norms=True,
                     frozen_stages=-1, with_cp=False,
                     norm_cfg=dict(type='LN'), init_cfg=None):
            super().__init__(init_cfg=init_cfg)
            settings = self._init_arch(arch, in_channels, out_indices,
                                       frozen_stages)
            dims = self.num_features = self._doubling_dims(settings)
            self.patch_embed = NewStem(in_channels, dims[0])  # (x, hw)
            dpr = self._drop_path_rates(drop_path_rate)
            self.stages = nn.ModuleList()
            for i, depth in enumerate(settings['depths']):
                blocks = [NewBlock(dims[i], settings['num_heads'][i],
                                   drop_path=dpr[i][j])
                          for j in range(depth)]  # block(x, hw) -> x
                downsample = (NewMerging(dims[i], dims[i + 1])  # (x, hw)
                              if i < self.num_stages - 1 else None)
                self.stages.append(BackboneStage(blocks, downsample,
                                                 with_cp))
            self._add_out_norms(out_norms, norm_cfg, dims)
            self._freeze_stages()

and, only for a layout other than tokens, overriding
:meth:`~HierarchicalBackbone.to_map`. Modules are built in this order (stem,
then each stage's blocks and merging) so that a fixed seed gives the same
initial weights in every family.
"""
import copy
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...checkpoint import checkpoint_keys, first_keys
from ..layers import tokens_to_map


class BackboneStage(nn.Module):
    """The blocks of one stage, with the down-sampling to the next stage
    kept alongside (``downsample``, None for the last stage) for the
    backbone to apply after taking the stage's output.

    Every block is called as ``block(x, hw)``, ``hw`` the (H, W) of the
    stage's map. ``with_cp`` checkpoints each block in training.
    """

    def __init__(self, blocks: Sequence[nn.Module],
                 downsample: Optional[nn.Module], with_cp: bool):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample
        self.with_cp = with_cp

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """Run the blocks on x (the family's layout, (H, W) = ``hw``);
        ``downsample`` is not applied."""
        for block in self.blocks:
            if self.with_cp and x.requires_grad:
                x = cp.checkpoint(block, x, hw, use_reentrant=False)
            else:
                x = block(x, hw)
        return x


class HierarchicalBackbone(BaseModule):
    """Base class of the four-stage backbones (the module docstring shows
    the pattern every family follows).

    Subclasses define:

    - ``arch_zoo``: variant name -> settings; aliases map to the same dict.
    - ``required_arch_keys`` and ``optional_arch_keys`` (name -> default):
      the keys a custom arch dict may hold.
    - ``per_stage_arch_keys``: keys holding one positive int per stage.
    - ``embed_dims_multiple``: for families whose arch gives one width C
      (stage i has C * 2^i channels, :meth:`_doubling_dims`), the multiple C
      must be of; None (the default) where the arch lists every stage's
      width.
    - ``_check_custom_arch(settings)``: family-specific checks of a custom
      arch (optional).
    - :meth:`to_map`, only for features kept in a layout other than tokens.

    and build ``patch_embed``, ``stages`` and the output norms in their
    constructor, after :meth:`_init_arch` (which sets ``in_channels``,
    ``out_indices`` and ``frozen_stages``). ``norm_eval`` is honoured when
    the subclass sets it.
    """
    num_stages = 4
    arch_zoo: Dict[str, dict] = {}
    required_arch_keys: Tuple[str, ...] = ('embed_dims', 'depths',
                                           'num_heads')
    optional_arch_keys: Dict[str, Any] = {}
    per_stage_arch_keys: Tuple[str, ...] = ('depths', 'num_heads')
    embed_dims_multiple: Optional[int] = None
    norm_eval = False

    @classmethod
    def _parse_arch(cls, arch: Union[str, dict]) -> dict:
        """Settings of a named variant, or a checked copy of a custom one."""
        name = cls.__name__
        if isinstance(arch, str):
            if arch.lower() not in cls.arch_zoo:
                raise KeyError(f'Unknown {name} arch {arch!r}; choose one of '
                               f'{sorted(cls.arch_zoo)} or pass a dict')
            return copy.deepcopy(cls.arch_zoo[arch.lower()])
        if not isinstance(arch, dict):
            raise TypeError(f'arch must be a str or a dict, got {type(arch)}')
        valid = [*cls.required_arch_keys, *cls.optional_arch_keys]
        missing = set(cls.required_arch_keys) - set(arch)
        if missing:
            raise KeyError(f'custom {name} arch is missing {sorted(missing)} '
                           f'(needs {list(cls.required_arch_keys)})')
        unknown = set(arch) - set(valid)
        if unknown:
            raise KeyError(f'custom {name} arch has unknown keys '
                           f'{sorted(unknown)}; valid: {valid}')
        settings = copy.deepcopy(dict(cls.optional_arch_keys, **arch))
        for key in cls.per_stage_arch_keys:
            settings[key] = cls._per_stage(key, settings[key])
        cls._check_embed_dims(settings['embed_dims'])
        cls._check_custom_arch(settings)
        return settings

    @classmethod
    def _check_embed_dims(cls, embed_dims: Any) -> None:
        multiple = cls.embed_dims_multiple
        if multiple is None:
            return
        what = ('an int C' if multiple == 1 else
                f'an int C, a positive multiple of {multiple},')
        message = (f'custom {cls.__name__} arch: embed_dims is {what} '
                   f'(stage i has C * 2^i channels), got {embed_dims!r}')
        if not isinstance(embed_dims, int):
            raise TypeError(message)
        if embed_dims < multiple or embed_dims % multiple:
            raise ValueError(message)

    @classmethod
    def _check_custom_arch(cls, settings: dict) -> None:
        """Family-specific checks of a custom arch; raise on a bad one."""

    @classmethod
    def _doubling_dims(cls, settings: dict) -> List[int]:
        """Channels of each stage, C * 2^i, for a single-width arch."""
        return [settings['embed_dims'] * 2**i for i in range(cls.num_stages)]

    @classmethod
    def _per_stage(cls,
                   name: str,
                   values: Sequence[int],
                   minimum: int = 1) -> List[int]:
        """``values`` as a list of one int >= ``minimum`` per stage."""
        values = list(values)
        if len(values) != cls.num_stages or any(
                not isinstance(v, int) or v < minimum for v in values):
            kind = 'positive ints' if minimum == 1 else f'ints >= {minimum}'
            raise ValueError(f'{cls.__name__} {name} needs {cls.num_stages} '
                             f'{kind} (one per stage), got {values}')
        return values

    @classmethod
    def _check_indices(cls, out_indices: Union[int, Sequence[int]]
                       ) -> Tuple[int, ...]:
        """``out_indices`` as a sorted-as-given tuple of stage indices; an
        int selects one stage, negative indices count from the end (as in
        MMPretrain)."""
        given = (out_indices, ) if isinstance(out_indices, int) else out_indices
        stages = range(-cls.num_stages, cls.num_stages)
        try:
            given = tuple(given)
        except TypeError:
            given = None
        if not given or any(
                isinstance(i, bool) or not isinstance(i, int) or i not in stages
                for i in given):
            raise ValueError('out_indices must be one stage index or a '
                             'non-empty subset of '
                             f'{tuple(range(cls.num_stages))}, got '
                             f'{out_indices!r} (negative indices count from '
                             'the end)')
        return tuple(i % cls.num_stages for i in given)

    @classmethod
    def _check_frozen_stages(cls, frozen_stages: int) -> int:
        if frozen_stages not in range(-1, cls.num_stages + 1):
            raise ValueError(f'frozen_stages must be in -1..{cls.num_stages}'
                             f', got {frozen_stages}')
        return frozen_stages

    def _init_arch(self, arch: Union[str, dict], in_channels: int,
                   out_indices: Sequence[int], frozen_stages: int) -> dict:
        """Parse ``arch`` and check and set the attributes every family has
        (``arch_settings``, ``in_channels``, ``out_indices``,
        ``frozen_stages``); returns the settings."""
        self.arch_settings = self._parse_arch(arch)
        if (isinstance(in_channels, bool) or not isinstance(in_channels, int)
                or in_channels < 1):
            raise ValueError('in_channels must be a positive int (image '
                             f'channels), got {in_channels!r}')
        self.in_channels = in_channels
        self.out_indices = self._check_indices(out_indices)
        self.frozen_stages = self._check_frozen_stages(frozen_stages)
        return self.arch_settings

    def _drop_path_rates(
            self, drop_path_rate: Optional[float]) -> List[List[float]]:
        """Stochastic depth of each block, one list per stage, growing
        linearly from 0 to ``drop_path_rate`` (None: the arch's) over all
        blocks of the network."""
        if drop_path_rate is None:
            drop_path_rate = self.arch_settings['drop_path_rate']
        if not 0 <= drop_path_rate < 1:
            raise ValueError(
                f'drop_path_rate must be in [0, 1), got {drop_path_rate}')
        depths = self.arch_settings['depths']
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        starts = [sum(depths[:i]) for i in range(len(depths))]
        return [rates[s:s + d] for s, d in zip(starts, depths)]

    def _check_input(self, x: torch.Tensor) -> None:
        """Refuse what the layers would reject with a less clear error: not
        an image batch (B, in_channels, H, W), or a dtype the weights do not
        take (integer images; float64 into float32 weights outside
        autocast)."""
        name = type(self).__name__
        if not isinstance(x, torch.Tensor):
            raise TypeError(f'{name} expects a tensor (B, {self.in_channels}, '
                            f'H, W), got {type(x).__name__}')
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'{name} expects images shaped (B, '
                f'{self.in_channels}, H, W), got a tensor of shape '
                f'{tuple(x.shape)}')
        weight = next(self.parameters())
        if not x.is_floating_point():
            raise TypeError(
                f'{name} expects floating-point images, got {x.dtype}; '
                f'convert them, e.g. x.to({weight.dtype}) (after '
                'normalisation, as the data preprocessor does)')
        if (x.dtype != weight.dtype
                and not torch.is_autocast_enabled(x.device.type)):
            raise TypeError(
                f'{name} has {weight.dtype} weights but got {x.dtype} images; '
                f'use x.to({weight.dtype}), model.to({x.dtype}) or autocast')

    def _empty_outputs(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Outputs for an empty batch (0, C, H, W): the maps an image of
        that size gives, with no rows. One image is run in eval mode without
        gradients, so no BatchNorm statistics or other state change."""
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                outs = self(x.new_zeros((1, *x.shape[1:])))
        finally:
            self.train(was_training)
        return tuple(out[:0] for out in outs)

    def _add_out_norms(self, out_norms: bool, norm_cfg: dict,
                       dims: Sequence[int]) -> None:
        """Set ``out_norms``; if true, add a norm ``norm{i}`` built from
        ``norm_cfg`` for each returned stage i (``dims[i]`` channels)."""
        self.out_norms = out_norms
        if out_norms:
            for i in self.out_indices:
                self.add_module(f'norm{i}',
                                build_norm_layer(norm_cfg, dims[i])[1])

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """x: (B, in_channels, H, W) -> tuple of (B, C_i, H_i, W_i), one
        contiguous map per stage of ``out_indices``."""
        self._check_input(x)
        if not len(x):
            return self._empty_outputs(x)
        x, hw = self.patch_embed(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x, hw)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x) if self.out_norms else x
                outs.append(self.to_map(out, hw).contiguous())
            if stage.downsample is not None:
                x, hw = stage.downsample(self.to_map(x, hw))
        return tuple(outs)

    @staticmethod
    def to_map(x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        """The layout hook: a stage's features -> their (B, C, H, W) map (a
        view, in any memory format). Tokens (B, H * W, C) here; a family
        that keeps other features overrides it."""
        return tokens_to_map(x, hw)

    def init_weights(self):
        """``init_cfg`` if given, else truncated-normal Linear weights
        (std 0.02, zero bias) and unit / zero norm affine parameters."""
        if self.init_cfg is not None:
            self._check_pretrained_keys()
            super().init_weights()
            return
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.LayerNorm, _BatchNorm)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _check_pretrained_keys(self) -> None:
        """Refuse a ``Pretrained`` init_cfg whose local checkpoint shares no
        key with this backbone.

        MMEngine would load it with a warning and keep every weight as
        constructed, which is easy to miss in a training log: typically
        the authors' weights before conversion, or a whole detector's
        checkpoint without ``prefix='backbone.'``.
        """
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'
                and os.path.isfile(str(cfg.get('checkpoint')))):
            return
        path, prefix = cfg['checkpoint'], cfg.get('prefix')
        keys = checkpoint_keys(path, prefix)
        own = list(self.state_dict())
        if not set(keys).isdisjoint(own):
            return
        name = type(self).__name__
        if keys:
            found = (f'none of the {len(keys)} keys of {path!r} '
                     f'({first_keys(keys, quote=True)}) is a {name} key '
                     f'({first_keys(own, quote=True)})')
        else:
            found = f'{path!r} has no keys' + (
                f' under the prefix {prefix!r}' if prefix else '')
        hint = ("; for a detector or segmentor checkpoint, set "
                "prefix='backbone.' in init_cfg" if not prefix else '')
        raise ValueError(
            f'Pretrained init_cfg of {name}: {found}. Convert the authors\' '
            f'checkpoints with tools/model_converters/ first{hint}')

    def _freeze_stages(self) -> None:
        """The freezing rule of every family: with ``frozen_stages`` = k >=
        0, the stem, the first k stages (each with the merging that follows
        it) and their output norms (``norm{i}``, where present) are kept in
        eval mode without gradients."""
        if self.frozen_stages < 0:
            return
        frozen = [self.patch_embed, *self.stages[:self.frozen_stages]]
        for i in range(self.frozen_stages):
            if hasattr(self, f'norm{i}'):
                frozen.append(getattr(self, f'norm{i}'))
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        """Train mode, keeping frozen stages (and, with ``norm_eval``, every
        BatchNorm) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
