"""Every config in configs/mixformer/: recipe, build, parameters against the
paper (../shared/paper_tables.yaml, +-3 %), one training step and one test
step on CPU.

Each config is built once (a module-scoped fixture) with test-only overrides
that change no parameter: 32x32 images, fewer RPN proposals and sampled
RoIs, RPN anchors allowed across the border, and plain BatchNorm instead of
SyncBN (no process group on CPU).
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

from mmvit_backbones.models.backbones.mixformer import MixFormer
from mmvit_backbones.utils.complexity import count_params

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs' / 'mixformer'
CONFIGS = sorted(path.name for path in CONFIG_DIR.glob('*.py'))
NAME = re.compile(r'(?P<framework>cascade-mask-rcnn|mask-rcnn|upernet)_'
                  r'mixformer-(?P<arch>b[0-6])_(?P<recipe>[^_]+)_'
                  r'(?P<dataset>coco|ade20k)(?:-512x512)?\.py')
# (framework, recipe) -> paper_tables.yaml section, Swin's recipe.
RECIPES = {
    ('mask-rcnn', '1x'): dict(
        table=('coco', 'mask-rcnn_1x'), lr=1e-4, weight_decay=0.05,
        epochs=12, milestones=[8, 11], warmup=1000),
    ('mask-rcnn', 'ms-3x'): dict(
        table=('coco', 'mask-rcnn_3x_ms'), lr=1e-4, weight_decay=0.05,
        epochs=36, milestones=[27, 33], warmup=1000),
    ('cascade-mask-rcnn', 'ms-3x'): dict(
        table=('coco', 'cascade-mask-rcnn_3x_ms'), lr=1e-4,
        weight_decay=0.05, epochs=36, milestones=[27, 33], warmup=1000),
    ('upernet', '8xb2-160k'): dict(
        table=('ade20k', 'upernet_160k'), lr=6e-5, weight_decay=0.01,
        iters=160000, warmup=1500),
}
IMAGE_SIZE = 32


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One intra-op thread: the tensors are tiny, a second thread only adds
    synchronisation on cores shared with other jobs."""
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
    b1_b4 = {'b1', 'b2', 'b3', 'b4'}
    assert families == {
        ('mask-rcnn', '1x'): b1_b4,
        ('mask-rcnn', 'ms-3x'): b1_b4,
        ('cascade-mask-rcnn', 'ms-3x'): {'b4'},
        ('upernet', '8xb2-160k'): b1_b4,
    }


@pytest.mark.parametrize('config', CONFIGS)
def test_recipe(config):
    name, recipe = parse(config), recipe_of(config)
    cfg = load(config)
    assert cfg.custom_imports.imports == ['mmvit_backbones']
    assert cfg.pretrained is None and cfg.model.backbone.init_cfg is None
    backbone = cfg.model.backbone
    assert backbone.type == 'MixFormer' and backbone.arch == name['arch']
    assert backbone.drop_path_rate == MixFormer.arch_zoo[name['arch']][
        'drop_path_rate']
    assert backbone.out_norms and backbone.norm_eval
    assert backbone.norm_cfg == dict(type='BN', requires_grad=True)

    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay,
            optimizer.betas) == ('AdamW', recipe['lr'],
                                 recipe['weight_decay'], (0.9, 0.999))
    custom_keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert custom_keys['norm'] == dict(decay_mult=0.)
    assert custom_keys['relative_position_bias_table'] == dict(decay_mult=0.)
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=16)
    schedulers = {s.type: s for s in cfg.param_scheduler}
    assert schedulers['LinearLR'].end == recipe['warmup']
    if 'epochs' in recipe:
        assert cfg.train_cfg.max_epochs == recipe['epochs']
        assert schedulers['MultiStepLR'].milestones == recipe['milestones']
        transforms = [t.type for t in cfg.train_pipeline]
        assert ('RandomChoice' in transforms) == (name['recipe'] == 'ms-3x')
    else:
        assert cfg.train_cfg.max_iters == recipe['iters']
        assert cfg.crop_size == (512, 512)
        poly = schedulers['PolyLR']
        assert (poly.power, poly.eta_min, poly.begin, poly.end) == (
            1.0, 0., 1500, 160000)


def test_cascade_box_heads_follow_swin():
    heads = load('cascade-mask-rcnn_mixformer-b4_ms-3x_coco.py'
                 ).model.roi_head.bbox_head
    assert [h.type for h in heads] == ['ConvFCBBoxHead'] * 3
    assert all((h.num_shared_convs, h.num_shared_fcs, h.loss_bbox.type,
                h.reg_decoded_bbox) == (4, 1, 'GIoULoss', True)
               for h in heads)
    assert [h.bbox_coder.target_stds[0] for h in heads] == [0.1, 0.05, 0.033]


def build(config, **backbone_overrides):
    cfg = copy.deepcopy(load(config))
    init_default_scope(cfg.default_scope)
    cfg.model.backbone.update(backbone_overrides)
    if cfg.default_scope == 'mmseg':
        cfg.model.data_preprocessor.size = (IMAGE_SIZE, IMAGE_SIZE)
    else:
        # Cascade's RPN ignores anchors crossing the border: on 32x32
        # images that is all of them.
        cfg.merge_from_dict({
            'model.train_cfg.rpn.allowed_border': -1,
            'model.train_cfg.rpn_proposal.max_per_img': 64,
            'model.test_cfg.rpn.max_per_img': 64,
        })
        rcnn = cfg.model.train_cfg.rcnn
        for stage in (rcnn if isinstance(rcnn, list) else [rcnn]):
            stage.sampler.num = 32
    torch.manual_seed(0)
    return cfg, revert_sync_batchnorm(MODELS.build(cfg.model))


@pytest.fixture(scope='module', params=CONFIGS)
def built(request):
    """(config name, cfg, model) with the test-only overrides applied."""
    return (request.param, *build(request.param))


def test_wiring(built):
    config, cfg, model = built
    backbone = model.backbone
    assert isinstance(backbone, MixFormer)
    dims = list(backbone.num_features)
    head = model.neck if hasattr(model, 'neck') else model.decode_head
    assert list(head.in_channels) == dims
    if getattr(model, 'auxiliary_head', None) is not None:
        assert model.auxiliary_head.in_channels == dims[2]
        assert model.auxiliary_head.in_index == 2


def test_params_match_paper(built, paper_tables):
    config, _, model = built
    section, table = recipe_of(config)['table']
    row = paper_tables[section][table].get(
        f'mixformer-{parse(config)["arch"]}')
    if row is None:
        pytest.skip('the paper has no row for this config')
    assert count_params(model) / 1e6 == pytest.approx(row['params'], rel=0.03)


def detection_batch(num_images=2):
    from mmdet.testing import demo_mm_inputs
    shapes = [[3, IMAGE_SIZE, IMAGE_SIZE], [3, IMAGE_SIZE, IMAGE_SIZE - 8]]
    return demo_mm_inputs(
        num_images, shapes[:num_images], num_items=[3, 2][:num_images],
        num_classes=80, with_mask=True)


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


def train_step(cfg, model, data):
    """One optimizer step; returns the loss dict after checking that the
    backbone's stem moved."""
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    stem = model.backbone.patch_embed.convs[0].weight
    before = stem.detach().clone()
    log_vars = model.train_step(data, optim_wrapper)
    assert all(torch.isfinite(value) for value in log_vars.values())
    assert log_vars['loss'] > 0
    assert not torch.equal(before, stem)
    return log_vars


def test_train_step_and_predict(built):
    config, cfg, model = built
    segmentation = cfg.default_scope == 'mmseg'
    data = segmentation_batch() if segmentation else detection_batch()
    train_step(cfg, model, data)
    assert not any(m.training for m in model.backbone.modules()
                   if isinstance(m, torch.nn.BatchNorm2d))

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
        assert instances.masks.shape[-2:] == (IMAGE_SIZE, IMAGE_SIZE - 8)


def test_detector_trains_on_one_image_with_live_batchnorm():
    """Batch size 1 with the backbone's BatchNorms in training mode."""
    cfg, model = build('mask-rcnn_mixformer-b1_1x_coco.py', norm_eval=False)
    block = model.backbone.stages[0].blocks[0].attn
    stats = block.dwconv_norm.running_mean.clone()
    train_step(cfg, model, detection_batch(num_images=1))
    assert not torch.equal(stats, block.dwconv_norm.running_mean)
