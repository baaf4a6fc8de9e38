"""Every config under configs/: loaded, built, one training step with its own
optimizer and one prediction on tiny CPU inputs; the COCO/ADE20K matrix is
complete and each of its configs carries its family's recipe (the paper's
where the paper has the row, see configs/<family>/README.md).

Each config is built once (a module-scoped fixture, so the tests of one
config run together and its model is dropped before the next is built),
with the test-only overrides of config_helpers.
"""
import re

import pytest
import torch
from mmengine.optim import build_optim_wrapper

from config_helpers import CONFIG_DIR, all_configs, batch_for, build, load
from mmvit_backbones.models.backbones import (CrossFormer, FocalTransformer,
                                              MixFormer)
from mmvit_backbones.utils.config import package_config_lookups_cached

CONFIGS = all_configs()
VARIANTS = {
    'maformer': ['s', 'b', 'l'],
    'crossformer': ['t', 's', 'b', 'l'],
    'crossformerpp': ['s', 'b', 'l', 'h'],
    'focal': ['t', 's', 'b', 'l'],
    'mixformer': [f'b{i}' for i in range(7)],
}
# Directory of each family's configs (CrossFormer++ shares CrossFormer's).
FAMILY_DIRS = dict(
    maformer='maformer', crossformer='crossformer',
    crossformerpp='crossformer', focal='focal', mixformer='mixformer')
# (method, schedule, dataset) of every cell of the matrix.
MATRIX = [
    ('mask-rcnn', '1x', 'coco'),
    ('mask-rcnn', 'ms-3x', 'coco'),
    ('cascade-mask-rcnn', 'ms-3x', 'coco'),
    ('retinanet', '1x', 'coco'),
    ('htc', '1x', 'coco'),
    ('fpn', '4xb4-80k', 'ade20k-512x512'),
    ('upernet', '8xb2-160k', 'ade20k-512x512'),
]
NAME = re.compile(
    r'(?P<family>[a-z]+)/(?P<method>[a-z-]+?)_'
    r'(?P<model>(?P<kind>[a-z]+)-(?P<variant>[a-z0-9]+))_'
    r'(?P<schedule>[^_]+)_(?P<dataset>coco|ade20k-\d+x\d+)\.py')
RECIPE_CONFIGS = [c for c in CONFIGS if NAME.fullmatch(c)]
SCHEDULES = {  # schedule -> epochs and milestones, or iterations
    '1x': dict(epochs=12, milestones=[8, 11]),
    'ms-3x': dict(epochs=36, milestones=[27, 33]),
    'ms-400-1400-3x': dict(epochs=36, milestones=[27, 33]),
    '4xb4-80k': dict(iters=80000),
    '8xb2-160k': dict(iters=160000),
}
# The papers' COCO drop path for MAFormer (section 4.3); the other families
# use their ImageNet (arch) value everywhere.
MAFORMER_DROP_PATH = dict(s=0.2, b=0.3, l=0.3)
MAFORMER_CASCADE_DROP_PATH = dict(s=0.2, b=0.3, l=0.4)
# Section 3.3's detection group sizes, used by the published first-
# generation Semantic FPN S/L configs and for the paper's 3x rows (their
# FLOPs are those of the detection group sizes).
CROSSFORMER_DETECTION_GROUPS = {
    ('fpn', 'crossformer-s'), ('fpn', 'crossformer-l'),
    ('mask-rcnn_ms-3x', 'crossformer-s'),
    ('mask-rcnn_ms-3x', 'crossformer-b'),
}
MULTI_SCALE = {  # family -> the 3x recipes' training scales
    'crossformer': [(1333, 640), (1333, 800)],
    'focal': [(1333, 480), (1333, 800)],
    'maformer': [(1333, 480), (1333, 800)],
}


@pytest.fixture(scope='module', autouse=True)
def fast_and_single_threaded():
    """One intra-op thread (the tensors are tiny and the cores shared) and
    package base lookups remembered across configs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with package_config_lookups_cached():
        yield
    torch.set_num_threads(threads)


def parse(config):
    return NAME.fullmatch(config).groupdict()


def test_matrix_is_complete():
    missing = [
        f'{FAMILY_DIRS[kind]}/{method}_{kind}-{variant}_{schedule}_{data}.py'
        for kind, variants in VARIANTS.items() for variant in variants
        for method, schedule, data in MATRIX
        if not (CONFIG_DIR / FAMILY_DIRS[kind] /
                f'{method}_{kind}-{variant}_{schedule}_{data}.py').exists()
    ]
    assert missing == []


def expected_recipe(name):
    """lr, weight decay, warm-up, batch per GPU and schedule of the family
    recipe a matrix config follows (configs/<family>/README.md)."""
    kind, method = name['kind'], name['method']
    recipe = dict(SCHEDULES[name['schedule']], total_batch=16)
    if method == 'upernet':
        recipe.update(lr=6e-5, weight_decay=0.01, warmup=1500, batch=2)
    elif method == 'fpn':
        maformer = kind == 'maformer'
        recipe.update(lr=2e-4 if maformer else 1e-4, weight_decay=1e-4,
                      warmup=1000 if maformer else 0, batch=4)
    else:
        weight_decay = 0.05
        if kind.startswith('crossformer'):
            weight_decay = 1e-4
        elif method == 'htcpp':
            weight_decay = 0.1
        recipe.update(lr=1e-4, weight_decay=weight_decay, batch=2,
                      warmup=1000 if kind == 'mixformer' else 500)
    return recipe


def expected_drop_path(name):
    kind, variant = name['kind'], name['variant']
    if kind == 'maformer':
        return (MAFORMER_CASCADE_DROP_PATH if name['method'] ==
                'cascade-mask-rcnn' else MAFORMER_DROP_PATH)[variant]
    backbone = dict(crossformer=CrossFormer, crossformerpp=CrossFormer,
                    focal=FocalTransformer, mixformer=MixFormer)[kind]
    arch = f'pp-{variant}' if kind == 'crossformerpp' else variant
    return backbone.arch_zoo[arch]['drop_path_rate']


def check_schedule(cfg, recipe):
    schedulers = {s.type: s for s in cfg.param_scheduler}
    warmup = schedulers.get('LinearLR')
    assert (warmup.end if warmup else 0) == recipe['warmup']
    if 'epochs' in recipe:
        assert cfg.train_cfg.max_epochs == recipe['epochs']
        assert schedulers['MultiStepLR'].milestones == recipe['milestones']
    else:
        assert cfg.train_cfg.max_iters == recipe['iters']
        decay = schedulers.get('PolyLR') or schedulers['CosineAnnealingLR']
        assert (decay.eta_min, decay.begin, decay.end) == (
            0., recipe['warmup'], recipe['iters'])


def check_backbone(name, backbone):
    kind, variant = name['kind'], name['variant']
    arch = f'pp-{variant}' if kind == 'crossformerpp' else variant
    assert backbone.arch == arch
    assert backbone.drop_path_rate == expected_drop_path(name)
    assert backbone.init_cfg is None
    if kind == 'focal':
        assert tuple(backbone.expand_sizes) == (3, 3, 3, 3)
        assert tuple(backbone.focal_windows) == (15, 13, 9, 7)
    elif kind == 'mixformer':
        assert backbone.out_norms and backbone.norm_eval
    elif kind.startswith('crossformer'):
        method = name['method']
        if method == 'mask-rcnn':
            method += '_' + name['schedule']
        detection_groups = (method, name['model']) in (
            CROSSFORMER_DETECTION_GROUPS)
        assert (backbone.group_sizes, backbone.intervals) == (
            ([14, 14, 7, 7], [16, 8, 2, 1]) if detection_groups else
            ([7, 7, 7, 7], [8, 4, 2, 1]))


@pytest.mark.parametrize('config', RECIPE_CONFIGS)
def test_recipe(config):
    name = parse(config)
    cfg = load(config)
    if name['dataset'].startswith('ade20k'):
        # mmseg's visualizer, fixed for browse_dataset.py (docs/tools.md)
        assert cfg.custom_imports.imports == [
            'mmvit_backbones', 'mmvit_backbones.visualization']
        assert cfg.visualizer.type == 'ContiguousSegLocalVisualizer'
    else:
        assert cfg.custom_imports.imports == ['mmvit_backbones']
    check_backbone(name, cfg.model.backbone)
    recipe = expected_recipe(name)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == (
        'AdamW', recipe['lr'], recipe['weight_decay'])
    assert cfg.train_dataloader.batch_size == recipe['batch']
    assert cfg.auto_scale_lr == dict(
        enable=False, base_batch_size=recipe['total_batch'])
    check_schedule(cfg, recipe)
    if name['schedule'] == 'ms-3x' and name['kind'] != 'mixformer':
        family = 'crossformer' if name['kind'].startswith(
            'crossformer') else name['kind']
        resize = [t for t in cfg.train_pipeline if t.type == 'RandomResize']
        assert resize[0].scale == MULTI_SCALE[family]
    if name['dataset'].startswith('ade20k'):
        crop = int(name['dataset'].split('x')[-1])
        assert cfg.crop_size == cfg.model.data_preprocessor.size == (crop,
                                                                    crop)


@pytest.mark.parametrize(
    'config', [c for c in RECIPE_CONFIGS if 'cascade' in c])
def test_cascade_box_heads_follow_swin(config):
    heads = load(config).model.roi_head.bbox_head
    assert all((h.type, h.num_shared_convs, h.num_shared_fcs,
                h.loss_bbox.type, h.reg_decoded_bbox) == (
                    'ConvFCBBoxHead', 4, 1, 'GIoULoss', True) for h in heads)
    assert [h.bbox_coder.target_stds[0] for h in heads] == [0.1, 0.05, 0.033]


@pytest.fixture(scope='module', params=CONFIGS)
def built(request):
    """(config name, cfg, model) with the test-only overrides applied."""
    return (request.param, *build(request.param))


def test_wiring(built):
    _, cfg, model = built
    if cfg.default_scope == 'mmpretrain':
        assert model.head.in_channels == model.backbone.num_features[-1]
        return
    dims = list(model.backbone.num_features)
    head = model.neck if hasattr(model, 'neck') else model.decode_head
    assert list(head.in_channels) == dims
    if getattr(model, 'auxiliary_head', None) is not None:
        assert model.auxiliary_head.in_channels == dims[2]
        assert model.auxiliary_head.in_index == 2


def first_trainable(module):
    return next(p for p in module.parameters() if p.requires_grad)


def test_train_step_and_predict(built):
    _, cfg, model = built
    data = batch_for(cfg, model)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    paramwise = cfg.optim_wrapper.get('paramwise_cfg') or {}
    if paramwise.get('norm_decay_mult') == 0 or 'norm' in paramwise.get(
            'custom_keys', {}):
        assert any(group['weight_decay'] == 0
                   for group in optim_wrapper.optimizer.param_groups)

    model.train()
    stem = first_trainable(model.backbone)
    before = stem.detach().clone()
    log_vars = model.train_step(data, optim_wrapper)
    assert all(torch.isfinite(value) for value in log_vars.values())
    assert log_vars['loss'] > 0
    assert not torch.equal(before, stem)

    model.eval()
    with torch.no_grad():
        results = model.test_step(data)
    assert len(results) == 2
    if cfg.default_scope == 'mmseg':
        assert results[0].pred_sem_seg.data.shape[-2:] == tuple(
            data['inputs'][0].shape[-2:])
    elif cfg.default_scope == 'mmpretrain':
        assert results[0].pred_score.shape == (model.head.num_classes, )
    else:
        instances = results[1].pred_instances
        assert instances.bboxes.shape[-1] == 4
        if 'masks' in instances:
            assert instances.masks.shape[-2:] == tuple(
                data['inputs'][1].shape[-2:])


def test_detector_trains_on_one_image_with_live_batchnorm():
    """MixFormer's BatchNorms in training mode with one image per batch."""
    from config_helpers import detection_batch
    cfg, model = build('mixformer/mask-rcnn_mixformer-b1_1x_coco.py',
                       norm_eval=False)
    norm = model.backbone.stages[0].blocks[0].attn.dwconv_norm
    stats = norm.running_mean.clone()
    model.train()
    model.train_step(
        detection_batch(80, num_images=1),
        build_optim_wrapper(model, cfg.optim_wrapper))
    assert not torch.equal(stats, norm.running_mean)
