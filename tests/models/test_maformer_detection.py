"""A MAFormer detection config loads an ImageNet classifier checkpoint.

Building, training and predicting with every config: test_configs.py."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

CONFIG = 'configs/maformer/mask-rcnn_maformer-s_1x_coco.py'


@pytest.fixture(scope='module')
def mmdet_models():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    return MODELS


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
        f"_base_ = '{Path(CONFIG).resolve()}'\n"
        'model = dict(backbone=dict(init_cfg=dict(\n'
        "    _delete_=True, type='Pretrained',\n"
        f"    checkpoint='{checkpoint}', prefix='backbone.')))\n")
    model = mmdet_models.build(Config.fromfile(child).model)
    model.init_weights()
    loaded = model.backbone.stages[0].blocks[0].gld.fc.weight
    assert torch.all(loaded == 0.5)
