"""Backbones are built by bare name from every downstream scope."""
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope, init_default_scope

import mmvit_backbones  # noqa: F401  (registers the backbones)

SCOPES = {
    'mmdet': 'mmdet.registry',
    'mmseg': 'mmseg.registry',
    'mmpretrain': 'mmpretrain.registry',
}
# Each family by a small named variant.
BACKBONES = {
    'MAFormer': 's',
    'CrossFormer': 't',
    'FocalTransformer': 't',
    'MixFormer': 'b0',
}


@pytest.mark.parametrize('backbone', BACKBONES)
@pytest.mark.parametrize('scope', SCOPES)
def test_backbone_builds_from_scope_by_bare_name(scope, backbone):
    registry = pytest.importorskip(SCOPES[scope]).MODELS
    model = registry.build(dict(type=backbone, arch=BACKBONES[backbone]))
    assert type(model).__name__ == backbone
    assert registry.get(backbone) is type(model)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_backbone_builds_under_default_scope(scope):
    registry = pytest.importorskip(SCOPES[scope]).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(dict(type='MAFormer', arch='s'))
    assert type(model).__name__ == 'MAFormer'


def test_custom_imports_in_a_config_registers_the_backbone(tmp_path):
    config = tmp_path / 'cfg.py'
    config.write_text(
        "custom_imports = dict(imports=['mmvit_backbones'], "
        'allow_failed_imports=False)\n'
        "model = dict(type='MAFormer', arch='b')\n")
    cfg = Config.fromfile(str(config))
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    assert MODELS.build(cfg.model).arch_settings['depths'] == [3, 8, 20, 7]


def test_unknown_arch_lists_valid_ones():
    from mmdet.registry import MODELS
    with pytest.raises(KeyError, match="'b', 'base', 'l', 'large'"):
        MODELS.build(dict(type='MAFormer', arch='tiny'))
