"""Every config in configs/focal/: recipe, build, parameters against the paper
(../shared/paper_tables.yaml, +-3 %), one training step and one test step on
CPU.

Each config is built once (a module-scoped fixture) with test-only overrides
that change no parameter: 32x32 images, fewer RPN proposals and sampled
RoIs, RPN anchors crossing the border allowed (cascade and HTC keep none on
32x32 images otherwise) and plain BatchNorm instead of SyncBN (no process
group on CPU).
"""
import copy
import functools
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope

from mmvit_backbones.models.backbones.focal import FocalTransformer
from mmvit_backbones.utils.complexity import count_params

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs' / 'focal'
CONFIGS = sorted(path.name for path in CONFIG_DIR.glob('*.py'))
NAME = re.compile(r'(?P<framework>retinanet|mask-rcnn|cascade-mask-rcnn|htcpp|'
                  r'upernet)_focal-(?P<arch>[tsbl])_(?P<recipe>[^_]+)_'
                  r'(?P<dataset>coco|ade20k)(?:-(?P<crop>\d+)x\d+)?\.py')
DENSE_SETTINGS = dict(expand_sizes=(3, 3, 3, 3), focal_windows=(15, 13, 9, 7))
NO_DECAY_KEYS = ('norm', 'window_bias', 'ring_bias', 'pooled_bias')
# (framework, recipe) -> paper_tables.yaml section and the paper's recipe.
RECIPES = {
    ('retinanet', '1x'): dict(
        table=('coco', 'retinanet_1x'), lr=1e-4, weight_decay=0.05,
        epochs=12, milestones=[8, 11], scale=(1333, 800)),
    ('retinanet', 'ms-3x'): dict(
        table=('coco', 'retinanet_3x_ms'), lr=1e-4, weight_decay=0.05,
        epochs=36, milestones=[27, 33], scale=[(1333, 480), (1333, 800)]),
    ('mask-rcnn', '1x'): dict(
        table=('coco', 'mask-rcnn_1x'), lr=1e-4, weight_decay=0.05,
        epochs=12, milestones=[8, 11], scale=(1333, 800)),
    ('mask-rcnn', 'ms-3x'): dict(
        table=('coco', 'mask-rcnn_3x_ms'), lr=1e-4, weight_decay=0.05,
        epochs=36, milestones=[27, 33], scale=[(1333, 480), (1333, 800)]),
    ('cascade-mask-rcnn', 'ms-3x'): dict(
        table=('coco', 'cascade-mask-rcnn_3x_ms'), lr=1e-4, weight_decay=0.05,
        epochs=36, milestones=[27, 33], scale=[(1333, 480), (1333, 800)]),
    ('htcpp', 'ms-400-1400-3x'): dict(
        table=('coco', 'htc++_3x_ms'), lr=1e-4, weight_decay=0.1,
        epochs=36, milestones=[27, 33], scale=[(1600, 400), (1600, 1400)]),
    ('upernet', '8xb2-160k'): dict(
        table=('ade20k', 'upernet_160k'), lr=6e-5, weight_decay=0.01,
        iters=160000),
}
IMAGE_SIZE = 32


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One intra-op thread: the tensors are tiny and the cores shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.lru_cache(maxsize=None)
def load(config):
    return Config.fromfile(CONFIG_DIR / config)


def parse(config):
    match = NAME.fullmatch(config)
    assert match, f'{config} does not follow the naming scheme'
    return match.groupdict()


def recipe_of(config):
    name = parse(config)
    return RECIPES[(name['framework'], name['recipe'])]


def test_every_family_has_its_variants():
    families = {}
    for config in CONFIGS:
        name = parse(config)
        families.setdefault((name['framework'], name['recipe']),
                            set()).add(name['arch'])
    assert families == {
        ('retinanet', '1x'): set('tsb'),
        ('retinanet', 'ms-3x'): set('tsb'),
        ('mask-rcnn', '1x'): set('tsb'),
        ('mask-rcnn', 'ms-3x'): set('tsb'),
        ('cascade-mask-rcnn', 'ms-3x'): {'t'},
        ('htcpp', 'ms-400-1400-3x'): {'l'},
        ('upernet', '8xb2-160k'): set('tsbl'),
    }


@pytest.mark.parametrize('config', CONFIGS)
def test_recipe(config):
    name, recipe = parse(config), recipe_of(config)
    cfg = load(config)
    assert cfg.custom_imports.imports == ['mmvit_backbones']
    assert cfg.pretrained is None and cfg.model.backbone.init_cfg is None
    backbone = cfg.model.backbone
    assert backbone.type == 'FocalTransformer'
    assert backbone.arch == name['arch']
    assert backbone.drop_path_rate == FocalTransformer.arch_zoo[
        name['arch']]['drop_path_rate']
    for key, value in DENSE_SETTINGS.items():
        assert tuple(backbone[key]) == value
    assert backbone.out_norms

    optim = cfg.optim_wrapper
    assert (optim.optimizer.type, optim.optimizer.lr,
            optim.optimizer.weight_decay) == ('AdamW', recipe['lr'],
                                              recipe['weight_decay'])
    assert set(optim.paramwise_cfg.custom_keys) == set(NO_DECAY_KEYS)
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)
    schedulers = {s.type: s for s in cfg.param_scheduler}
    if 'epochs' in recipe:
        assert cfg.train_cfg.max_epochs == recipe['epochs']
        assert schedulers['MultiStepLR'].milestones == recipe['milestones']
        resize = [t for t in cfg.train_pipeline
                  if t.type in ('Resize', 'RandomResize')]
        assert resize[0].scale == recipe['scale']
    else:
        assert cfg.train_cfg.max_iters == recipe['iters']
        crop = int(name['crop'])
        assert cfg.crop_size == (crop, crop)
        assert cfg.model.data_preprocessor.size == (crop, crop)
        assert (crop == 640) == (name['arch'] == 'l')
        poly = schedulers['PolyLR']
        assert (poly.power, poly.begin, poly.end) == (1.0, 1500, 160000)
    if name['framework'] == 'htcpp':
        assert cfg.model.test_cfg.rcnn.nms.type == 'soft_nms'
        assert cfg.train_pipeline[1].type == 'InstaBoost'


@pytest.fixture(scope='module', params=CONFIGS)
def built(request):
    """(config name, cfg, model) with the test-only overrides applied."""
    config = request.param
    cfg = copy.deepcopy(load(config))
    init_default_scope(cfg.default_scope)
    if cfg.default_scope == 'mmseg':
        cfg.model.data_preprocessor.size = (IMAGE_SIZE, IMAGE_SIZE)
    elif 'rpn_proposal' in cfg.model.train_cfg:
        cfg.merge_from_dict({
            'model.train_cfg.rpn_proposal.max_per_img': 64,
            'model.test_cfg.rpn.max_per_img': 64,
            'model.train_cfg.rpn.allowed_border': -1,
        })
        rcnn = cfg.model.train_cfg.rcnn
        for stage in (rcnn if isinstance(rcnn, list) else [rcnn]):
            stage.sampler.num = 32
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    return config, cfg, model


def test_wiring(built):
    config, cfg, model = built
    backbone = model.backbone
    assert isinstance(backbone, FocalTransformer)
    assert backbone.expand_sizes == [3, 3, 3, 3]
    assert [b.attn.focal_window for b in
            (s.blocks[0] for s in backbone.stages)] == [15, 13, 9, 7]
    dims = list(backbone.num_features)
    head = model.neck if hasattr(model, 'neck') else model.decode_head
    assert list(head.in_channels) == dims
    if getattr(model, 'auxiliary_head', None) is not None:
        assert model.auxiliary_head.in_channels == dims[2]
        assert model.auxiliary_head.in_index == 2


def test_params_match_paper(built, paper_tables):
    config, _, model = built
    section, table = recipe_of(config)['table']
    expected = paper_tables[section][table][f'focal-{parse(config)["arch"]}']
    assert count_params(model) / 1e6 == pytest.approx(
        expected['params'], rel=0.03)


def detection_batch(with_semantic):
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(
        2, [[3, IMAGE_SIZE, IMAGE_SIZE], [3, IMAGE_SIZE, IMAGE_SIZE - 8]],
        num_items=[3, 2],
        num_classes=80,
        with_mask=True,
        with_semantic=with_semantic)


def segmentation_batch():
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    generator = torch.Generator().manual_seed(0)
    shape = (IMAGE_SIZE, IMAGE_SIZE)
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(
            torch.randint(0, 256, (3, *shape), generator=generator,
                          dtype=torch.uint8))
        label = torch.randint(0, 150, (1, *shape), generator=generator)
        sample = SegDataSample(
            metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape))
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def test_train_step_and_predict(built):
    config, cfg, model = built
    segmentation = cfg.default_scope == 'mmseg'
    data = segmentation_batch() if segmentation else detection_batch(
        config.startswith('htcpp'))
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    no_decay = sum(
        len(group['params']) for group in optim_wrapper.optimizer.param_groups
        if group['weight_decay'] == 0)
    assert no_decay == sum(
        any(key in name for key in NO_DECAY_KEYS)
        for name, _ in model.named_parameters())

    model.train()
    stem = model.backbone.patch_embed.projection.weight
    before = stem.detach().clone()
    log_vars = model.train_step(data, optim_wrapper)
    assert all(torch.isfinite(value) for value in log_vars.values())
    assert log_vars['loss'] > 0
    assert not torch.equal(before, stem)

    model.eval()
    with torch.no_grad():
        results = model.test_step(data)
    assert len(results) == 2
    if segmentation:
        assert results[0].pred_sem_seg.data.shape == (1, IMAGE_SIZE,
                                                      IMAGE_SIZE)
    else:
        instances = results[1].pred_instances
        assert instances.bboxes.shape[-1] == 4
        if 'masks' in instances:
            assert instances.masks.shape[-2:] == (IMAGE_SIZE,
                                                  IMAGE_SIZE - 8)
