"""The pretraining path: the mini ImageNet generator, the classification
tails, a short train + test of the mini config with tools/train.py and
tools/test.py, and ImageNet checkpoints loading into the detection and
segmentation configs (``init_cfg`` with ``prefix='backbone.'``)."""
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from repo_helpers import load_script

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'
TOOLS = REPO / 'tools'
GENERATOR = TOOLS / 'misc' / 'make_mini_imagenet.py'
MINI_CONFIG = CONFIGS / 'mixformer' / 'mixformer-b1_1xb32_mini-imagenet.py'
MINI_IN1K_CONFIG = CONFIGS / 'mixformer' / 'mixformer-b1_8xb128_in1k.py'

mmpretrain_registry = pytest.importorskip('mmpretrain.registry')
import mmvit_backbones.models.classification as classification  # noqa: E402
from mmvit_backbones.models.backbones.focal import \
    resize_pooled_bias  # noqa: E402


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = load_script('tools/misc/make_mini_imagenet.py')
SMALL = gen.MiniImageNetParams(train_per_class=4, val_per_class=2, seed=3)


def tree_digest(root):
    """Map every file under ``root`` (relative path) to its SHA-1."""
    return {
        str(path.relative_to(root)): hashlib.sha1(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob('*')) if path.is_file()
    }


@pytest.fixture(scope='module')
def mini_imagenet(tmp_path_factory):
    out = tmp_path_factory.mktemp('mini_imagenet')
    gen.generate_mini_imagenet(SMALL, str(out))
    return out


# --------------------------------------------------------------- generator
def test_generation_is_byte_identical(mini_imagenet, tmp_path):
    gen.generate_mini_imagenet(SMALL, str(tmp_path))
    assert tree_digest(tmp_path) == tree_digest(mini_imagenet)


def test_layout_is_imagenet_format(mini_imagenet):
    classes = (mini_imagenet / 'meta' / 'classes.txt').read_text().split()
    assert tuple(classes) == gen.CLASSES
    for split in gen.SPLITS:
        lines = (mini_imagenet / 'meta' / f'{split}.txt').read_text()
        entries = [line.split() for line in lines.splitlines()]
        assert len(entries) == SMALL.per_class(split) * len(gen.CLASSES)
        for path, label in entries:
            assert path.split('/')[0] == gen.CLASSES[int(label)]
            assert (mini_imagenet / split / path).is_file()


def test_rerun_skips_and_new_parameters_regenerate(tmp_path):
    gen.generate_mini_imagenet(SMALL, str(tmp_path))
    image = tmp_path / 'train' / 'disc' / 'disc_00000.png'
    written = image.stat().st_mtime_ns
    gen.generate_mini_imagenet(SMALL, str(tmp_path))
    assert image.stat().st_mtime_ns == written
    other = gen.MiniImageNetParams(train_per_class=2, val_per_class=1, seed=3)
    gen.generate_mini_imagenet(other, str(tmp_path))
    assert len(list((tmp_path / 'train' / 'disc').iterdir())) == 2
    params = json.loads((tmp_path / 'meta' / 'params.json').read_text())
    assert params['train_per_class'] == 2


def test_images_vary_within_a_class(mini_imagenet):
    """Colour and placement are random: no two images of a class agree."""
    digests = tree_digest(mini_imagenet / 'train' / 'ring')
    assert len(set(digests.values())) == SMALL.train_per_class


def test_command_line(tmp_path):
    command = [
        sys.executable, GENERATOR, '--out', tmp_path, '--train-per-class', 2,
        '--val-per-class', 1, '--image-size', 40
    ]
    result = subprocess.run([str(part) for part in command],
                            capture_output=True, text=True, check=True)
    assert '12 train images, 6 val images' in result.stdout
    with Image.open(tmp_path / 'val' / 'cross' / 'cross_00000.png') as image:
        assert image.size == (40, 40) and image.mode == 'RGB'


def test_mmpretrain_imagenet_dataset_reads_it(mini_imagenet):
    from mmpretrain.datasets import ImageNet
    dataset = ImageNet(
        data_root=str(mini_imagenet),
        split='val',
        classes=str(mini_imagenet / 'meta' / 'classes.txt'))
    assert len(dataset) == SMALL.val_per_class * len(gen.CLASSES)
    assert dataset.CLASSES == gen.CLASSES
    assert dataset.get_gt_labels().tolist() == sorted(
        dataset.get_gt_labels().tolist())


# -------------------------------------------------------- classifier tails
def test_norm_global_average_pooling_norms_before_pooling():
    neck = classification.NormGlobalAveragePooling(in_channels=8)
    torch.nn.init.normal_(neck.norm.weight)
    x = torch.randn(2, 8, 3, 5)
    expected = neck.norm(x.flatten(2).transpose(1, 2)).mean(dim=1)
    torch.testing.assert_close(neck(x), expected)
    pooled = neck((x, x))
    assert isinstance(pooled, tuple) and len(pooled) == 2
    torch.testing.assert_close(pooled[1], expected)
    assert not torch.allclose(expected, neck.norm(x.mean(dim=(2, 3))))


def test_mixformer_head_activates_tokens_before_pooling():
    head = classification.MixFormerClsHead(
        num_classes=5, in_channels=16, mid_channels=12)
    feats = (torch.randn(2, 8, 6, 6), torch.randn(2, 16, 3, 4))
    tokens = feats[-1].flatten(2).transpose(1, 2)
    pooled = torch.nn.functional.gelu(head.proj(tokens)).mean(dim=1)
    torch.testing.assert_close(head.pre_logits(feats), pooled)
    torch.testing.assert_close(head(feats), head.fc(pooled))
    with pytest.raises(ValueError, match='num_classes'):
        classification.MixFormerClsHead(num_classes=0, in_channels=16)


def build_classifier(config):
    cfg = Config.fromfile(str(config))
    init_default_scope('mmpretrain')
    return mmpretrain_registry.MODELS.build(cfg.model)


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('config, variant', [
    ('crossformer/crossformer-t_8xb128_in1k.py', 'crossformer-t'),
    ('crossformer/crossformerpp-s_8xb128_in1k.py', 'crossformerpp-s'),
    ('focal/focal-t_8xb128_in1k.py', 'focal-t'),
])
def test_classifier_parameters_match_the_reference(config, variant,
                                                   paper_tables):
    """The tails make the whole model the reference's size; Focal's unused
    norm0-norm2 (2 x (C + 2C + 4C)) are the only extra parameters."""
    model = build_classifier(CONFIGS / config)
    unused_norms = sum(
        count(getattr(model.backbone, f'norm{i}')) for i in range(3)
        if hasattr(model.backbone, f'norm{i}'))
    exact = paper_tables['classification'][variant]['exact']
    assert (count(model) - unused_norms) / 1e6 == pytest.approx(
        exact, abs=0.005)


@pytest.mark.parametrize('arch, spec_tail', [('b0', 5.11 - 3.58),
                                              ('b4', 34.82 - 32.88)])
def test_mixformer_tail_matches_the_spec(arch, spec_tail):
    """Spec: whole model minus backbone (final LN, Linear(8C, 1280), GELU,
    pooling, Linear(1280, 1000))."""
    model = build_classifier(
        CONFIGS / 'mixformer' / f'mixformer-{arch}_8xb128_in1k.py')
    out_norms = sum(
        count(getattr(model.backbone, f'norm{i}')) for i in range(4))
    backbone = count(model.backbone) - out_norms
    final_norm = count(model.backbone.norm3)
    tail = count(model.head) + final_norm
    assert tail / 1e6 == pytest.approx(spec_tail, abs=0.01)
    assert count(model) == backbone + out_norms + count(model.head)


# ------------------------------------------------- train and test, in-tree
def run_tool(name, argv):
    """Run tools/<name>.py's main(argv) in this process."""
    module = load_module(f'mmvit_tools_{name}', TOOLS / f'{name}.py')
    module.main([str(a) for a in argv])


def mini_data_options(root):
    options = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options += [
            f'{loader}.dataset.data_root={root}',
            f'{loader}.dataset.classes={root}/meta/classes.txt',
            f'{loader}.num_workers=0',
            f'{loader}.persistent_workers=False',
        ]
    return options


def logged_top1(work_dir):
    """top-1 of the last evaluation logged under ``work_dir``."""
    logs = sorted(Path(work_dir).glob('*/*.log'))
    values = [
        float(line.split('accuracy/top1:')[1].split()[0])
        for line in logs[-1].read_text().splitlines()
        if 'accuracy/top1:' in line
    ]
    return values[-1]


@pytest.fixture(scope='module')
def mini_checkpoint(mini_imagenet, tmp_path_factory):
    """One epoch of the mini config with tools/train.py; the checkpoint."""
    work_dir = tmp_path_factory.mktemp('mini_train')
    run_tool('train', [
        MINI_CONFIG, '--work-dir', work_dir, '--cfg-options',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1', *mini_data_options(
            mini_imagenet)
    ])
    return work_dir / 'epoch_1.pth'


def test_mini_config_trains_and_tests(mini_checkpoint, mini_imagenet,
                                      tmp_path):
    assert mini_checkpoint.is_file()
    run_tool('test', [
        MINI_CONFIG, mini_checkpoint, '--work-dir', tmp_path,
        '--cfg-options', *mini_data_options(mini_imagenet)
    ])
    assert 0 <= logged_top1(tmp_path) <= 100


def test_mini_config_changes_only_data_schedule_and_size():
    mini, full = (Config.fromfile(str(p))
                  for p in (MINI_CONFIG, MINI_IN1K_CONFIG))
    assert mini.model.backbone == full.model.backbone
    assert mini.model.head.num_classes == mini.data_preprocessor.num_classes
    mini.model.head.num_classes = full.model.head.num_classes
    # Mixup/CutMix are batch augmentations: part of the lighter data recipe.
    assert full.model.train_cfg.augments and not mini.model.train_cfg
    mini.model.train_cfg = full.model.train_cfg
    assert mini.model == full.model
    assert mini.optim_wrapper == full.optim_wrapper
    assert mini.train_dataloader.dataset.data_root == 'data/mini_imagenet/'


def test_classification_keeps_unused_output_norms_at_their_init(
        mini_checkpoint):
    """norm0-norm2 get no gradient in classification: the checkpoint holds
    the LayerNorm initialisation (what a dense model would start from)."""
    state = torch.load(mini_checkpoint, map_location='cpu',
                       weights_only=False)['state_dict']
    for i in range(3):
        assert torch.equal(state[f'backbone.norm{i}.weight'],
                           torch.ones_like(state[f'backbone.norm{i}.weight']))
        assert not state[f'backbone.norm{i}.bias'].any()
    assert not torch.equal(state['backbone.norm3.bias'],
                           torch.zeros_like(state['backbone.norm3.bias']))


# ------------------------------------------- ImageNet -> detection / seg
DENSE_CASES = {
    'maformer-s': ('maformer/maformer-s_8xb128_in1k.py',
                   ['maformer/mask-rcnn_maformer-s_1x_coco.py']),
    'crossformer-s': ('crossformer/crossformer-s_8xb128_in1k.py', [
        'crossformer/mask-rcnn_crossformer-s_1x_coco.py',
        'crossformer/upernet_crossformer-s_8xb2-160k_ade20k-512x512.py'
    ]),
    'crossformerpp-s': ('crossformer/crossformerpp-s_8xb128_in1k.py', [
        'crossformer/mask-rcnn_crossformerpp-s_1x_coco.py',
        'crossformer/upernet_crossformerpp-s_8xb2-160k_ade20k-512x512.py'
    ]),
    'focal-t': ('focal/focal-t_8xb128_in1k.py', [
        'focal/mask-rcnn_focal-t_1x_coco.py',
        'focal/upernet_focal-t_8xb2-160k_ade20k-512x512.py'
    ]),
    'mixformer-b1': ('mixformer/mixformer-b1_8xb128_in1k.py', [
        'mixformer/mask-rcnn_mixformer-b1_1x_coco.py',
        'mixformer/upernet_mixformer-b1_8xb2-160k_ade20k-512x512.py'
    ]),
}
DENSE_PAIRS = [(variant, dense) for variant, (_, configs) in
               DENSE_CASES.items() for dense in configs]


def save_perturbed_classifier(config, path):
    """A classifier checkpoint whose every tensor differs from its
    initialisation, in the layout the mmpretrain Runner saves."""
    model = build_classifier(CONFIGS / config)
    generator = torch.Generator().manual_seed(0)
    state = model.state_dict()
    for value in state.values():
        if value.is_floating_point():
            value.add_(torch.randn(value.shape, generator=generator) * 0.1)
    torch.save({'meta': {}, 'state_dict': state}, path)
    return state


@pytest.fixture(scope='module')
def classifier_checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp('in1k_checkpoints')
    return {
        variant: (root / f'{variant}.pth',
                  save_perturbed_classifier(config, root / f'{variant}.pth'))
        for variant, (config, _) in DENSE_CASES.items()
    }


def build_dense_backbone(dense_config, init_cfg=None):
    cfg = Config.fromfile(str(CONFIGS / dense_config))
    scope = cfg.default_scope
    init_default_scope(scope)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    cfg.model.backbone.init_cfg = init_cfg
    return registry.build(cfg.model.backbone)


def backbone_part(state):
    prefix = 'backbone.'
    return {
        key[len(prefix):]: value
        for key, value in state.items() if key.startswith(prefix)
    }


@pytest.mark.parametrize('variant, dense_config', DENSE_PAIRS)
def test_classifier_checkpoint_loads_into_dense_backbone(
        variant, dense_config, classifier_checkpoints):
    """``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=
    'backbone.')`` copies every tensor, and the checkpoint's backbone keys
    and the dense backbone's keys agree (no missing, no unexpected key).
    Focal's pooled-level tables are the bilinear resize of the ImageNet ones
    (larger focal windows) and its stage-4 ring tables, absent at 224, keep
    their initialisation (both logged by the backbone)."""
    path, state = classifier_checkpoints[variant]
    backbone = build_dense_backbone(
        dense_config,
        dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    backbone.init_weights()
    source = backbone_part(state)
    for key, value in backbone.state_dict().items():
        if key not in source:
            assert variant == 'focal-t' and key.startswith('stages.3.') \
                and key.endswith('.attn.ring_bias'), key
            continue
        expected = source[key]
        if key.endswith('pooled_bias') and expected.shape != value.shape:
            expected = resize_pooled_bias(expected, value.shape[1])
        torch.testing.assert_close(value, expected, rtol=0, atol=0, msg=key)
    result = backbone.load_state_dict(source, strict=False)
    assert result.missing_keys == []
    assert result.unexpected_keys == []


def test_crossformer_final_norm_stays_with_the_classifier(
        classifier_checkpoints):
    """CrossFormer's backbone has no output norms (as the reference
    detector): the final LayerNorm is the neck's and is not loaded."""
    _, state = classifier_checkpoints['crossformer-s']
    assert 'neck.norm.weight' in state
    assert not any(key.startswith('backbone.norm') for key in state)
