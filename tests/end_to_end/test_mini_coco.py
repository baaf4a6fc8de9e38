"""Tests of the mini-COCO generator, its dataset config and the demo config."""
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from repo_helpers import load_script

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / 'tools' / 'misc' / 'make_mini_coco.py'
DATASET_CONFIG = REPO / 'configs' / '_base_' / 'datasets' / 'mini-coco_instance.py'
CONFIG_DIR = REPO / 'configs' / 'maformer'
DEMO_CONFIG = CONFIG_DIR / 'mask-rcnn_maformer-s_1x_mini-coco.py'
COCO_CONFIG = CONFIG_DIR / 'mask-rcnn_maformer-s_1x_coco.py'


gen = load_script('tools/misc/make_mini_coco.py')
SMALL = gen.MiniCocoParams(num_train=6, num_val=3, seed=7)


def tree_digest(root):
    """Map every file under ``root`` (relative path) to its SHA-1."""
    return {
        str(path.relative_to(root)): hashlib.sha1(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob('*')) if path.is_file()
    }


@pytest.fixture(scope='module')
def mini_coco(tmp_path_factory):
    """A small generated set, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp('mini_coco')
    gen.generate_mini_coco(SMALL, str(out))
    return out


def test_generation_is_byte_identical(mini_coco, tmp_path):
    gen.generate_mini_coco(SMALL, str(tmp_path))
    assert tree_digest(tmp_path) == tree_digest(mini_coco)


def test_layout(mini_coco):
    assert len(list((mini_coco / 'train').glob('*.png'))) == SMALL.num_train
    assert len(list((mini_coco / 'val').glob('*.png'))) == SMALL.num_val
    for split in gen.SPLITS:
        assert (mini_coco / 'annotations' / f'instances_{split}.json').is_file()


def test_rerun_skips_and_new_parameters_regenerate(tmp_path):
    assert gen.generate_mini_coco(SMALL, str(tmp_path))
    assert not gen.generate_mini_coco(SMALL, str(tmp_path))
    smaller = gen.MiniCocoParams(num_train=2, num_val=1, seed=SMALL.seed)
    assert gen.generate_mini_coco(smaller, str(tmp_path))
    assert len(list((tmp_path / 'train').glob('*.png'))) == 2


def test_seed_changes_the_images(mini_coco, tmp_path):
    other = gen.MiniCocoParams(num_train=SMALL.num_train,
                               num_val=SMALL.num_val, seed=SMALL.seed + 1)
    gen.generate_mini_coco(other, str(tmp_path))
    first = tree_digest(mini_coco)
    second = tree_digest(tmp_path)
    assert all(first[name] != second[name]
               for name in first if name.endswith('.png'))


def test_train_and_val_are_distinct(mini_coco):
    train = {Image.open(p).tobytes() for p in (mini_coco / 'train').glob('*.png')}
    val = {Image.open(p).tobytes() for p in (mini_coco / 'val').glob('*.png')}
    assert len(train) == SMALL.num_train
    assert len(val) == SMALL.num_val
    assert not train & val


@pytest.mark.parametrize('split', gen.SPLITS)
def test_annotations_are_valid_coco(mini_coco, split):
    coco = COCO(str(mini_coco / 'annotations' / f'instances_{split}.json'))
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(gen.CLASSES)
    assert len(coco.getImgIds()) == SMALL.num_images(split)
    for image_id in coco.getImgIds():
        info = coco.loadImgs(image_id)[0]
        image = Image.open(mini_coco / split / info['file_name'])
        assert image.size == (info['width'], info['height'])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        assert SMALL.min_objects <= len(anns) <= SMALL.max_objects
        masks = [coco.annToMask(ann).astype(bool) for ann in anns]
        assert np.sum(masks, axis=0).max() == 1, 'visible masks overlap'
        for ann, mask in zip(anns, masks):
            check_annotation(ann, mask)


def check_annotation(ann, mask):
    """The box, area and flags of ``ann`` agree with its decoded ``mask``."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    x, y, w, h = ann['bbox']
    assert (x, y) == (cols[0], rows[0])
    assert (x + w, y + h) == (cols[-1] + 1, rows[-1] + 1)
    assert ann['area'] == mask.sum() == mask_utils.area(ann['segmentation'])
    assert ann['iscrowd'] == 0
    assert 1 <= ann['category_id'] <= len(gen.CLASSES)


def test_command_line(tmp_path):
    command = [sys.executable, str(GENERATOR), '--out', str(tmp_path),
               '--num-train', '2', '--num-val', '1', '--seed', '3']
    first = subprocess.run(command, capture_output=True, text=True, check=True)
    second = subprocess.run(command, capture_output=True, text=True, check=True)
    assert 'written' in first.stdout
    assert 'already up to date' in second.stdout
    params = json.loads((tmp_path / gen.PARAMS_FILE).read_text())
    assert params['num_train'] == 2 and params['seed'] == 3


@pytest.mark.parametrize('loader', ['train_dataloader', 'val_dataloader'])
def test_dataset_config_yields_samples(mini_coco, loader):
    from mmdet.registry import DATASETS
    init_default_scope('mmdet')
    cfg = Config.fromfile(str(DATASET_CONFIG))
    dataset_cfg = cfg[loader].dataset
    dataset_cfg.data_root = str(mini_coco)
    dataset = DATASETS.build(dataset_cfg)
    split = 'train' if loader == 'train_dataloader' else 'val'
    assert len(dataset) == SMALL.num_images(split)
    assert dataset.metainfo['classes'] == gen.CLASSES
    width, height = cfg.image_scale
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (3, height, width)
    instances = sample['data_samples'].gt_instances
    assert len(instances) >= SMALL.min_objects
    assert instances.masks.masks.shape == (len(instances), height, width)
    assert instances.labels.max() < len(gen.CLASSES)


def test_demo_config_changes_only_data_schedule_and_size():
    demo = Config.fromfile(str(DEMO_CONFIG))
    coco = Config.fromfile(str(COCO_CONFIG))
    assert demo.model.backbone == coco.model.backbone
    assert demo.model.neck == coco.model.neck
    assert demo.model.rpn_head == coco.model.rpn_head
    for head in ('bbox_head', 'mask_head'):
        demo_head = demo.model.roi_head[head].to_dict()
        coco_head = coco.model.roi_head[head].to_dict()
        assert demo_head.pop('num_classes') == len(gen.CLASSES)
        coco_head.pop('num_classes')
        assert demo_head == coco_head
    assert demo.test_dataloader.dataset.data_root == 'data/mini_coco/'
    assert demo.test_evaluator.metric == ['bbox', 'segm']
