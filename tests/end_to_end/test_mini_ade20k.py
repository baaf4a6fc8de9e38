"""Tests of the mini-ADE20K generator, its dataset config and the demo configs.

The last test runs the real tools (tools/train.py, then tools/test.py) for
two iterations on a few generated images and checks that mIoU is printed.
"""
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from repo_helpers import load_script

REPO = Path(__file__).resolve().parents[2]
DATASET_CONFIG = REPO / 'configs' / '_base_' / 'datasets' / 'mini-ade20k.py'
DEMO_CONFIGS = {
    'configs/mixformer/fpn_mixformer-b1_4xb4-80k_mini-ade20k.py':
    'configs/mixformer/fpn_mixformer-b1_4xb4-80k_ade20k-512x512.py',
    'configs/mixformer/upernet_mixformer-b1_8xb2-160k_mini-ade20k.py':
    'configs/mixformer/upernet_mixformer-b1_8xb2-160k_ade20k-512x512.py',
}


gen = load_script('tools/misc/make_mini_ade20k.py')
SMALL = gen.MiniADE20KParams(num_train=6, num_val=3, seed=7)


def tree_digest(root):
    """Map every file under ``root`` (relative path) to its SHA-1."""
    return {
        str(path.relative_to(root)): hashlib.sha1(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob('*')) if path.is_file()
    }


def label_maps(root, split):
    """The label maps of ``split`` as uint8 arrays, in file order."""
    return [np.array(Image.open(path))
            for path in sorted((root / 'annotations' / split).glob('*.png'))]


@pytest.fixture(scope='module')
def mini_ade20k(tmp_path_factory):
    """A small generated set, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp('mini_ade20k')
    gen.generate_mini_ade20k(SMALL, str(out))
    return out


def test_generation_is_byte_identical(mini_ade20k, tmp_path):
    gen.generate_mini_ade20k(SMALL, str(tmp_path))
    assert tree_digest(tmp_path) == tree_digest(mini_ade20k)


def test_ade20k_layout(mini_ade20k):
    for split in ('training', 'validation'):
        images = sorted(p.stem for p in
                        (mini_ade20k / 'images' / split).glob('*.jpg'))
        labels = sorted(p.stem for p in
                        (mini_ade20k / 'annotations' / split).glob('*.png'))
        assert images == labels
        assert len(images) == SMALL.num_images(split)


def test_label_maps_hold_other_and_every_class(mini_ade20k):
    maps = label_maps(mini_ade20k, 'training')
    size = SMALL.image_size
    assert all(m.dtype == np.uint8 and m.shape == (size, size) for m in maps)
    values = np.unique(np.stack(maps))
    assert values.min() >= 0 and values.max() <= len(gen.CLASSES)
    assert set(range(1, len(gen.CLASSES) + 1)) <= set(values.tolist())


def test_reduce_zero_label_ignores_other_only(mini_ade20k):
    init_default_scope('mmseg')
    from mmseg.datasets.transforms import LoadAnnotations
    path = sorted((mini_ade20k / 'annotations' / 'training').glob('*.png'))[0]
    raw = np.array(Image.open(path))
    loaded = LoadAnnotations(reduce_zero_label=True)(
        dict(seg_map_path=str(path), reduce_zero_label=True,
             seg_fields=[]))['gt_seg_map']
    assert np.array_equal(loaded == 255, raw == 0)
    assert np.array_equal(loaded[raw > 0], raw[raw > 0] - 1)


def test_training_and_validation_images_differ(mini_ade20k):
    digests = tree_digest(mini_ade20k)
    training = {d for name, d in digests.items() if '/training/' in name}
    validation = {d for name, d in digests.items() if '/validation/' in name}
    assert training and validation and not training & validation


def test_rerun_skips_and_new_parameters_regenerate(tmp_path):
    assert gen.generate_mini_ade20k(SMALL, str(tmp_path))
    assert not gen.generate_mini_ade20k(SMALL, str(tmp_path))
    smaller = gen.MiniADE20KParams(num_train=2, num_val=1, seed=SMALL.seed)
    assert gen.generate_mini_ade20k(smaller, str(tmp_path))
    assert len(list((tmp_path / 'images' / 'training').glob('*.jpg'))) == 2


def test_dataset_config_reads_the_generated_set(mini_ade20k):
    init_default_scope('mmseg')
    from mmseg.registry import DATASETS
    cfg = Config.fromfile(str(DATASET_CONFIG))
    dataset_cfg = cfg.val_dataloader.dataset
    dataset_cfg.data_root = str(mini_ade20k)
    dataset = DATASETS.build(dataset_cfg)
    assert len(dataset) == SMALL.num_val
    assert dataset.metainfo['classes'] == gen.CLASSES
    sample = dataset[0]
    labels = np.unique(sample['data_samples'].gt_sem_seg.data.numpy())
    assert set(labels.tolist()) <= set(range(len(gen.CLASSES))) | {255}


@pytest.mark.parametrize('mini, full', DEMO_CONFIGS.items())
def test_demo_config_keeps_the_ade20k_backbone(mini, full):
    mini_cfg = Config.fromfile(str(REPO / mini))
    full_cfg = Config.fromfile(str(REPO / full))
    mini_backbone = mini_cfg.model.backbone.to_dict()
    full_backbone = full_cfg.model.backbone.to_dict()
    assert mini_backbone.pop('norm_eval') is False
    full_backbone.pop('norm_eval')
    assert mini_backbone == full_backbone
    assert mini_cfg.model.get('neck') == full_cfg.model.get('neck')
    assert mini_cfg.model.decode_head.num_classes == len(gen.CLASSES)
    assert mini_cfg.train_dataloader.dataset.metainfo.classes == gen.CLASSES


def run_tool(args):
    """Run a script of tools/ from the repository root; return its result."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_train_then_test_prints_miou(mini_ade20k, tmp_path):
    config = next(iter(DEMO_CONFIGS))
    data_root = [f'{loader}.dataset.data_root={mini_ade20k}/'
                 for loader in ('train_dataloader', 'val_dataloader',
                                'test_dataloader')]
    work_dir = tmp_path / 'work'
    trained = run_tool(['tools/train.py', config, '--work-dir', str(work_dir),
                        '--cfg-options', 'train_cfg.max_iters=2',
                        'train_cfg.val_interval=2',
                        'default_hooks.checkpoint.interval=2', *data_root])
    assert trained.returncode == 0, trained.stderr[-3000:]
    checkpoint = work_dir / 'iter_2.pth'
    assert checkpoint.is_file()

    tested = run_tool(['tools/test.py', config, str(checkpoint),
                       '--work-dir', str(tmp_path / 'test'), '--show-dir',
                       str(work_dir / 'predictions'),
                       '--cfg-options', *data_root,
                       # mmseg's hook draws every 50th image by default
                       'default_hooks.visualization.interval=1'])
    assert tested.returncode == 0, tested.stderr[-3000:]
    found = re.search(r'mIoU: (\d+\.\d+)', tested.stdout + tested.stderr)
    assert found, 'no mIoU in the test output'
    assert 0.0 <= float(found.group(1)) <= 100.0

    drawn = run_tool(['tools/misc/demo_figures.py', str(work_dir)])
    assert drawn.returncode == 0, drawn.stderr[-3000:]
    assert [Path(f).name for f in drawn.stdout.split()] == [
        'mini-ade20k_loss.png', 'mini-ade20k_mIoU.png',
        'mini-ade20k_predictions.jpg']


@pytest.mark.parametrize('config', DEMO_CONFIGS)
def test_mmseg_browse_dataset_draws_every_training_image(config, mini_ade20k,
                                                          tmp_path):
    """mmseg's own browse_dataset.py on our configs: with mmseg's stock
    visualizer it stops in cv2.rectangle on the first image (a non-contiguous
    view, mmvit_backbones/visualization/)."""
    import mmseg
    script = (Path(mmseg.__file__).parent / '.mim' / 'tools' /
              'analysis_tools' / 'browse_dataset.py')
    out = tmp_path / 'browse'
    done = run_tool([str(script), config, '--not-show', '--output-dir',
                     str(out), '--cfg-options',
                     f'train_dataloader.dataset.data_root={mini_ade20k}/'])
    assert done.returncode == 0, done.stderr[-3000:]
    drawn = sorted(path.name for path in out.iterdir())
    assert len(drawn) == SMALL.num_train
    picture = np.array(Image.open(out / drawn[0]))
    assert picture.ndim == 3 and picture.std() > 0
