"""Every config in configs/crossformer/: recipe, build, parameters against the
paper (../shared/paper_tables.yaml, +-3 %), one training step and one test
step on CPU.

Each config is built once (a module-scoped fixture, so pytest runs the tests
of one config together) with a few test-only overrides that change no
parameter: 32x32 images, fewer RPN proposals and sampled RoIs, and plain
BatchNorm instead of SyncBN (no process group on CPU).
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

from mmvit_backbones.models.backbones.crossformer import CrossFormer
from mmvit_backbones.utils.complexity import count_params

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs' / 'crossformer'
CONFIGS = sorted(path.name for path in CONFIG_DIR.glob('*.py'))
NAME = re.compile(r'(?P<framework>retinanet|mask-rcnn|fpn|upernet)_'
                  r'(?P<variant>crossformer(?:pp)?-[sblh])_(?P<recipe>[^_]+)_'
                  r'(?P<dataset>coco|ade20k)(?:-512x512)?\.py')
ARCHS = {
    'crossformer-s': 's', 'crossformer-b': 'b', 'crossformer-l': 'l',
    'crossformerpp-s': 'pp-s', 'crossformerpp-b': 'pp-b',
    'crossformerpp-l': 'pp-l', 'crossformerpp-h': 'pp-h'
}
# (framework, recipe) -> paper_tables.yaml section, published recipe.
RECIPES = {
    ('retinanet', '1x'): dict(
        table=('coco', 'retinanet_1x'), lr=1e-4, weight_decay=1e-4,
        epochs=12, milestones=[8, 11], batch=2, total_batch=16),
    ('mask-rcnn', '1x'): dict(
        table=('coco', 'mask-rcnn_1x'), lr=1e-4, weight_decay=1e-4,
        epochs=12, milestones=[8, 11], batch=2, total_batch=16),
    ('mask-rcnn', 'ms-3x'): dict(
        table=('coco', 'mask-rcnn_3x_ms'), lr=1e-4, weight_decay=1e-4,
        epochs=36, milestones=[27, 33], batch=2, total_batch=16),
    ('fpn', '4xb4-80k'): dict(
        table=('ade20k', 'semantic-fpn_80k'), lr=1e-4, weight_decay=1e-4,
        iters=80000, warmup=0, poly_power=0.9, batch=4, total_batch=16),
    ('upernet', '8xb2-160k'): dict(
        table=('ade20k', 'upernet_160k'), lr=6e-5, weight_decay=0.01,
        iters=160000, warmup=1500, poly_power=1.0, batch=2, total_batch=16),
}
# Section 3.3's detection group sizes, used by the published first-
# generation Semantic FPN S/L configs and by the paper's 3x rows (their FLOPs
# are those of the detection group sizes); every other config has G = 7,
# I = 8, 4, 2, 1 for both generations.
DETECTION_GROUPS = {
    ('fpn', '4xb4-80k'): {'crossformer-s', 'crossformer-l'},
    ('mask-rcnn', 'ms-3x'): {'crossformer-s', 'crossformer-b'},
}
# The paper's RetinaNet CrossFormer++-S row (Table III: 40.8M, 272.1G) repeats
# the CrossFormer-S row above it; the model is compared with the paper's own
# Mask R-CNN CrossFormer++-S count minus the Mask R-CNN / RetinaNet difference
# the paper gives for CrossFormer-S (43.0 - (50.2 - 40.8) = 33.6M); see
# docs/crossformer.md.
PAPER_ERRATA = {
    'retinanet_crossformerpp-s_1x_coco.py': (
        lambda coco: coco['mask-rcnn_1x']['crossformerpp-s']['params'] -
        coco['mask-rcnn_1x']['crossformer-s']['params'] +
        coco['retinanet_1x']['crossformer-s']['params']),
}
IMAGE_SIZE = 32


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One intra-op thread while these tests run: their tensors are tiny, so
    a second thread only adds synchronisation, which on cores shared with
    other jobs doubled the file's time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.lru_cache(maxsize=None)
def load(config):
    """Parsed config, shared by the tests (each parse reads every metafile
    of mmdet/mmseg to resolve the package-scoped bases: about a second)."""
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
                            set()).add(name['variant'])
    detection = {'crossformer-s', 'crossformer-b', 'crossformerpp-s',
                 'crossformerpp-b'}
    assert families == {
        ('retinanet', '1x'): detection,
        ('mask-rcnn', '1x'): detection,
        ('mask-rcnn', 'ms-3x'): detection,
        ('fpn', '4xb4-80k'): set(ARCHS),
        ('upernet', '8xb2-160k'): set(ARCHS),
    }


@pytest.mark.parametrize('config', CONFIGS)
def test_recipe(config):
    name, recipe = parse(config), recipe_of(config)
    cfg = load(config)
    assert cfg.custom_imports.imports == ['mmvit_backbones']
    assert cfg.pretrained is None and cfg.model.backbone.init_cfg is None
    backbone = cfg.model.backbone
    arch = ARCHS[name['variant']]
    assert backbone.type == 'CrossFormer' and backbone.arch == arch
    assert backbone.drop_path_rate == CrossFormer.arch_zoo[arch][
        'drop_path_rate']
    assert 'lda_mode' not in backbone  # the arch's: image, or region for ++
    detection_groups = name['variant'] in DETECTION_GROUPS.get(
        (name['framework'], name['recipe']), ())
    assert (backbone.group_sizes, backbone.intervals) == (
        ([14, 14, 7, 7], [16, 8, 2, 1]) if detection_groups else
        ([7, 7, 7, 7], [8, 4, 2, 1]))

    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == (
        'AdamW', recipe['lr'], recipe['weight_decay'])
    assert cfg.train_dataloader.batch_size == recipe['batch']
    assert cfg.auto_scale_lr == dict(
        enable=False, base_batch_size=recipe['total_batch'])
    schedulers = {s.type: s for s in cfg.param_scheduler}
    if 'epochs' in recipe:
        assert cfg.train_cfg.max_epochs == recipe['epochs']
        assert schedulers['LinearLR'].end == 500
        assert schedulers['MultiStepLR'].milestones == recipe['milestones']
        resize = cfg.train_pipeline[2]
        assert resize.scale == ([(1333, 640), (1333, 800)] if name['recipe']
                                == 'ms-3x' else (1333, 800))
    else:
        assert cfg.train_cfg.max_iters == recipe['iters']
        assert cfg.crop_size == (512, 512)
        poly = schedulers['PolyLR']
        assert (poly.power, poly.eta_min, poly.end) == (
            recipe['poly_power'], 0., recipe['iters'])
        assert poly.begin == recipe['warmup']
        assert ('LinearLR' in schedulers) == bool(recipe['warmup'])


@pytest.fixture(scope='module', params=CONFIGS)
def built(request):
    """(config name, cfg, model) with the test-only overrides applied."""
    config = request.param
    cfg = copy.deepcopy(load(config))
    init_default_scope(cfg.default_scope)
    if cfg.default_scope == 'mmseg':
        cfg.model.data_preprocessor.size = (IMAGE_SIZE, IMAGE_SIZE)
    elif cfg.model.type == 'MaskRCNN':
        cfg.merge_from_dict({
            'model.train_cfg.rpn_proposal.max_per_img': 64,
            'model.train_cfg.rcnn.sampler.num': 32,
            'model.test_cfg.rpn.max_per_img': 64,
        })
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    return config, cfg, model


def test_wiring(built):
    config, cfg, model = built
    backbone = model.backbone
    assert isinstance(backbone, CrossFormer)
    assert backbone.lda_mode == ('region' if 'crossformerpp' in config else
                                 'image')
    dims = list(backbone.num_features)
    head = model.neck if hasattr(model, 'neck') else model.decode_head
    assert list(head.in_channels) == dims
    if getattr(model, 'auxiliary_head', None) is not None:
        assert model.auxiliary_head.in_channels == dims[2]
        assert model.auxiliary_head.in_index == 2


def test_params_match_paper(built, paper_tables):
    config, _, model = built
    section, table = recipe_of(config)['table']
    row = paper_tables[section][table].get(parse(config)['variant'])
    if row is None:
        pytest.skip('the paper has no row for this config')
    expected = row['params']
    if config in PAPER_ERRATA:
        expected = PAPER_ERRATA[config](paper_tables[section])
    assert count_params(model) / 1e6 == pytest.approx(expected, rel=0.03)


def detection_batch():
    from mmdet.testing import demo_mm_inputs
    return demo_mm_inputs(
        2, [[3, IMAGE_SIZE, IMAGE_SIZE], [3, IMAGE_SIZE, IMAGE_SIZE - 8]],
        num_items=[3, 2], num_classes=80, with_mask=True)


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
    data = segmentation_batch() if segmentation else detection_batch()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    no_decay = sum(
        len(group['params']) for group in optim_wrapper.optimizer.param_groups
        if group['weight_decay'] == 0)
    norms = sum('norm' in name for name, _ in model.named_parameters())
    assert no_decay == (norms if config.startswith('upernet') else 0)

    model.train()
    stem = model.backbone.patch_embed.projections[0].weight
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
        if cfg.model.type == 'MaskRCNN':
            assert instances.masks.shape[-2:] == (IMAGE_SIZE,
                                                  IMAGE_SIZE - 8)
