"""The Mask R-CNN configs build and take a real training step on CPU."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

CONFIGS = [f'configs/maformer/mask-rcnn_maformer-{a}_1x_coco.py'
           for a in ('s', 'b', 'l')]


@pytest.fixture(scope='module')
def mmdet_models():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    return MODELS


def test_recipe_matches_paper():
    cfg = Config.fromfile(CONFIGS[0])
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == (
        'AdamW', 1e-4, 0.05)
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.param_scheduler[1].milestones == [8, 11]
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr.base_batch_size == 16
    resize = [t for t in cfg.train_pipeline if t.type == 'Resize'][0]
    assert tuple(resize.scale) == (1333, 800)
    drop_path = [Config.fromfile(c).model.backbone.drop_path_rate
                 for c in CONFIGS]
    assert drop_path == [0.2, 0.3, 0.3]


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds(config, mmdet_models):
    cfg = Config.fromfile(config)
    model = mmdet_models.build(cfg.model)
    assert type(model.backbone).__name__ == 'MAFormer'
    assert model.neck.in_channels == list(model.backbone.num_features)


def test_one_training_step_on_cpu(mmdet_models):
    from mmdet.testing import demo_mm_inputs
    cfg = Config.fromfile(CONFIGS[0])
    model = mmdet_models.build(cfg.model)
    model.init_weights()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    no_decay = [g for g in optim_wrapper.optimizer.param_groups
                if g['weight_decay'] == 0]
    assert no_decay, 'norm layers must be excluded from weight decay'
    data = demo_mm_inputs(2, [[3, 96, 128], [3, 128, 96]], num_items=[3, 2],
                          num_classes=80, with_mask=True)
    before = model.backbone.stages[0].blocks[0].gld.fc.weight.clone()
    log_vars = model.train_step(data, optim_wrapper)
    assert all(torch.isfinite(v) for v in log_vars.values())
    assert log_vars['loss'] > 0
    after = model.backbone.stages[0].blocks[0].gld.fc.weight
    assert not torch.equal(before, after)
    model.eval()
    with torch.no_grad():
        results = model.test_step(data)
    assert len(results) == 2
    assert results[0].pred_instances.bboxes.shape[-1] == 4


def test_inheriting_config_loads_imagenet_weights(tmp_path, mmdet_models):
    """The README's recipe: a child config replaces the inherited None."""
    from mmvit_backbones.models.backbones import MAFormer
    classifier = MAFormer(arch='s')
    torch.nn.init.constant_(classifier.stages[0].blocks[0].gld.fc.weight, 0.5)
    checkpoint = tmp_path / 'maformer-s_in1k.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in
                               classifier.state_dict().items()}}, checkpoint)
    child = tmp_path / 'child.py'
    child.write_text(
        f"_base_ = '{Path(CONFIGS[0]).resolve()}'\n"
        'model = dict(backbone=dict(init_cfg=dict(\n'
        "    _delete_=True, type='Pretrained',\n"
        f"    checkpoint='{checkpoint}', prefix='backbone.')))\n")
    model = mmdet_models.build(Config.fromfile(child).model)
    model.init_weights()
    loaded = model.backbone.stages[0].blocks[0].gld.fc.weight
    assert torch.all(loaded == 0.5)
