"""What a converter knows about one family, as data: :class:`ConverterSpec`.

A spec holds the family's key rules (official key -> our key, with the
layout of the tensor), the official keys a backbone does not use (each with
its label and the reason), how to read the architecture off the converted
tensors, which ``arch_zoo`` names are canonical, and the two hooks where a
family needs behaviour: the tensor re-layout and the architecture inference,
each of a fixed signature. :mod:`.driver` runs every family through the same
steps with it.
"""
import re
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple, Type)

import torch
from torch import nn

#: The tensor is stored as our model stores it.
SAME = 'same'


@dataclass(frozen=True)
class KeyRule:
    """One official key pattern and our key for it.

    Attributes:
        official (str): Regex matched at the start of an official key
            (``re.match``; write ``$`` to require the whole key).
        ours (str): ``re`` replacement template giving our key.
        layout (str): How the official tensor is laid out, for the family's
            ``adapt_tensor`` hook; :data:`SAME` when it needs no change.
    """
    official: str
    ours: str
    layout: str = SAME


@dataclass(frozen=True)
class DroppedKey:
    """Official keys that a backbone does not use.

    Attributes:
        label (str): How the report counts them (``head x2``).
        official (str): Regex searched anywhere in an official key.
        reason (str): Why they are dropped (documentation).
    """
    label: str
    official: str
    reason: str


#: ``adapt_tensor(layout, our_key, value) -> Tensor``: one official value
#: (a tensor or a numpy array) in our layout.
AdaptTensor = Callable[[str, str, Any], torch.Tensor]
#: ``infer_arch(state_dict) -> kwargs``: keyword arguments of the backbone
#: (at least ``arch``) matching a converted state dict; KeyError when the
#: tensors are not the family's.
InferArch = Callable[[Mapping[str, torch.Tensor]], Dict[str, Any]]


def keep_tensor(layout: str, our_key: str, value: Any) -> torch.Tensor:
    """The default ``adapt_tensor``: every tensor as stored."""
    return value


@dataclass(frozen=True)
class ConverterSpec:
    """Everything the generic driver needs to convert one family.

    Attributes:
        family (str): Name of the family in messages ('CrossFormer').
        backbone (type): Our backbone class; built for the strict check.
        source_format (str): 'torch' (a ``.pth`` file of the authors' torch
            code) or 'pdparams' (a PaddlePaddle ``.pdparams`` pickle).
        key_rules (tuple[KeyRule]): Tried in order; the first match wins.
        dropped_keys (tuple[DroppedKey]): Official keys left out.
        infer_arch (InferArch): Hook: the backbone's keyword arguments.
        canonical_prefixes (tuple[str]): ``arch_zoo`` names with one of
            these prefixes are the ones a report names ('crossformer-s',
            not its aliases 's' or 'small').
        adapt_tensor (AdaptTensor): Hook: an official tensor in our layout.
        model_kwargs (dict): Extra keyword arguments of the model built for
            the check (e.g. the output norms a checkpoint has weights for).
        notes (tuple[str]): Lines the report adds after the dropped keys.
    """
    family: str
    backbone: Type[nn.Module]
    source_format: str
    key_rules: Tuple[KeyRule, ...]
    dropped_keys: Tuple[DroppedKey, ...]
    infer_arch: InferArch
    canonical_prefixes: Tuple[str, ...]
    adapt_tensor: AdaptTensor = keep_tensor
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    notes: Tuple[str, ...] = ()

    def __post_init__(self):
        if self.source_format not in ('torch', 'pdparams'):
            raise ValueError(f'{self.family}: unknown source_format '
                             f'{self.source_format!r}')
        compiled = tuple(
            (re.compile(rule.official), rule) for rule in self.key_rules)
        object.__setattr__(self, '_compiled_rules', compiled)

    def convert_key(self, key: str) -> Optional[Tuple[str, str]]:
        """(our key, layout) for one official key, or None if no rule
        applies."""
        for pattern, rule in self._compiled_rules:
            if pattern.match(key):
                return pattern.sub(rule.ours, key), rule.layout
        return None

    def dropped_label(self, key: str) -> Optional[str]:
        """Label of the dropped-key rule that drops an official key, or None
        when the key is kept."""
        for dropped in self.dropped_keys:
            if re.search(dropped.official, key):
                return dropped.label
        return None

    def arch_name(self, arch: Mapping[str, Any]) -> Optional[str]:
        """Canonical ``arch_zoo`` name whose settings hold ``arch`` (the
        ``arch`` entry of :attr:`infer_arch`'s result), or None."""
        for name, settings in self.backbone.arch_zoo.items():
            if name.startswith(self.canonical_prefixes) and all(
                    settings[key] == value for key, value in arch.items()):
                return name
        return None


@dataclass
class ConversionResult:
    """Outcome of converting an official state dict.

    Attributes:
        state_dict (dict): Converted tensors, keyed as in our backbone.
        dropped (list[str]): Official keys deliberately left out.
        unexpected (list[str]): Official keys no rule understands (not
            converted).
    """
    state_dict: Dict[str, torch.Tensor]
    dropped: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)


def convert_state_dict(spec: ConverterSpec,
                       official: Mapping[str, Any]) -> ConversionResult:
    """Sort an official state dict's entries into dropped, unexpected (no
    key rule) and converted (renamed and re-laid by ``spec``)."""
    result = ConversionResult(state_dict={})
    for key, value in official.items():
        if spec.dropped_label(key) is not None:
            result.dropped.append(key)
            continue
        converted = spec.convert_key(key)
        if converted is None:
            result.unexpected.append(key)
            continue
        ours, layout = converted
        result.state_dict[ours] = spec.adapt_tensor(layout, ours, value)
    return result


def stage_depth(state_dict: Mapping[str, torch.Tensor], stage: int) -> int:
    """Blocks of stage ``stage`` in a converted state dict (keys
    ``stages.<stage>.blocks.<j>.``); 0 when the stage has none."""
    pattern = re.compile(rf'stages\.{stage}\.blocks\.(\d+)\.')
    indices = [int(m.group(1)) for m in map(pattern.match, state_dict) if m]
    return max(indices) + 1 if indices else 0


def rules_with_params(rules: Sequence[Tuple[str, str, str]],
                      params: Mapping[str, str]) -> Tuple[KeyRule, ...]:
    """Whole-key rules from module rules: each ``(module regex ending in $,
    module template, layout)`` combined with each official parameter name
    and ours (``params``), in rule order."""
    return tuple(
        KeyRule(module[:-1] + r'\.' + re.escape(official) + '$',
                f'{template}.{ours}', layout)
        for module, template, layout in rules
        for official, ours in params.items())
