"""Backbone configs from short specs, as the tools' ``--backbone`` takes.

A spec is a preset name (``swin-t``), ``TYPE:ARCH`` (``MAFormer:s``) or a
config-dict literal (``dict(type="MAFormer", arch="s")``), parsed without
executing anything. Errors are exceptions; turning them into a command-line
message is the tools' business.
"""
import ast
import importlib
from typing import Any, List, Optional, Union

import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import Registry

__all__ = [
    'BACKBONE_PRESETS', 'BackboneSpecError', 'parse_dict_expression',
    'parse_backbone_spec', 'list_backbones', 'build_backbone',
    'build_backbone_from_spec'
]


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


class BackboneSpecError(ValueError):
    """A backbone spec, or a setting merged into it, that builds no backbone.

    ``str(error)`` is ``'SPEC: why'``.

    Args:
        spec (str): The spec as given.
        reason (str): Why it builds nothing.
    """

    def __init__(self, spec: str, reason: str) -> None:
        super().__init__(f'{spec}: {reason}')
        self.spec = spec
        self.reason = reason


def build_backbone_from_spec(spec: str,
                             scope: str = 'mmdet',
                             overrides: Optional[dict] = None) -> nn.Module:
    """Build the backbone of a spec with ``overrides`` merged into its config.

    Args:
        spec (str): See :func:`parse_backbone_spec`.
        scope (str): Registry scope, see :func:`build_backbone`.
        overrides (dict, optional): ``key.path=value`` settings, merged as
            MMEngine's ``Config.merge_from_dict`` does (``--cfg-options``).

    Raises:
        BackboneSpecError: The spec or a setting is bad (syntax, unknown
            type or arch, an argument the backbone does not take).
    """
    try:
        cfg = Config(parse_backbone_spec(spec))
        cfg.merge_from_dict(overrides or {})
        return build_backbone(cfg.to_dict(), scope)
    except (KeyError, TypeError, ValueError) as error:
        raise BackboneSpecError(spec, error.args[0]) from error
