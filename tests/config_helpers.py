"""Loading, building and feeding the configs under configs/ on CPU in tests.

The test-only overrides change no parameter of a model: tiny images, fewer
RPN proposals, sampled RoIs and kept detections (the RoI heads' convolutions
cost in proportion to them), RPN anchors allowed across the border (on
32x32 images the cascades' RPNs keep none otherwise) and plain BatchNorm
instead of SyncBN (no process group on CPU).
"""
import copy
import functools
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / 'configs'
IMAGE_SIZE = 32
# Classifiers keep the last stage larger than one pixel (32 / 32 = 1 leaves
# no room for pooled or windowed attention to differ from a global mean).
CLASSIFICATION_IMAGE_SIZE = 64


def all_configs():
    """Every config under configs/ except the ``_base_`` parts, as paths
    relative to configs/."""
    return sorted(
        path.relative_to(CONFIG_DIR).as_posix()
        for path in CONFIG_DIR.rglob('*.py')
        if '_base_' not in path.relative_to(CONFIG_DIR).parts)


@functools.lru_cache(maxsize=None)
def load(config):
    """The parsed config (configs/<config>), shared by the tests; callers
    that change it must copy it."""
    return Config.fromfile(CONFIG_DIR / config)


def shrink_for_test(cfg):
    """Apply the test-only overrides described in the module docstring."""
    model = cfg.model
    if cfg.default_scope == 'mmseg':
        model.data_preprocessor.size = (IMAGE_SIZE, IMAGE_SIZE)
    train_cfg = model.get('train_cfg') or {}
    if 'rpn_proposal' in train_cfg:
        cfg.merge_from_dict({
            'model.train_cfg.rpn.allowed_border': -1,
            'model.train_cfg.rpn_proposal.max_per_img': 16,
            'model.test_cfg.rpn.max_per_img': 16,
            'model.test_cfg.rcnn.max_per_img': 4,
        })
        rcnn = train_cfg.rcnn
        for stage in (rcnn if isinstance(rcnn, list) else [rcnn]):
            stage.sampler.num = 4
    return cfg


def build(config, **backbone_overrides):
    """(cfg, model) for configs/<config> with the test-only overrides; the
    weights are those of construction (no ``init_weights``)."""
    cfg = shrink_for_test(copy.deepcopy(load(config)))
    cfg.model.backbone.update(backbone_overrides)
    # As mmengine's Runner: a top-level data preprocessor (mmpretrain's
    # configs keep it there) is the model's unless the model has one.
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    init_default_scope(cfg.default_scope)
    torch.manual_seed(0)
    return cfg, revert_sync_batchnorm(MODELS.build(cfg.model))


def detection_batch(num_classes, num_images=2, with_semantic=False):
    """Two small images (one not square) with boxes, masks and labels."""
    from mmdet.testing import demo_mm_inputs
    shapes = [[3, IMAGE_SIZE, IMAGE_SIZE], [3, IMAGE_SIZE, IMAGE_SIZE - 8]]
    return demo_mm_inputs(
        num_images,
        shapes[:num_images],
        num_items=[3, 2][:num_images],
        num_classes=num_classes,
        with_mask=True,
        with_semantic=with_semantic)


def segmentation_batch(num_classes):
    """Two random square images with random label maps."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    generator = torch.Generator().manual_seed(0)
    shape = (IMAGE_SIZE, IMAGE_SIZE)
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(
            torch.randint(0, 256, (3, *shape), generator=generator,
                          dtype=torch.uint8))
        label = torch.randint(0, num_classes, (1, *shape),
                              generator=generator)
        sample = SegDataSample(
            metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape))
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def classification_batch(num_classes):
    """Two random square images with class labels."""
    from mmpretrain.structures import DataSample
    generator = torch.Generator().manual_seed(0)
    size = CLASSIFICATION_IMAGE_SIZE
    inputs = [
        torch.randint(0, 256, (3, size, size), generator=generator,
                      dtype=torch.uint8) for _ in range(2)
    ]
    samples = [
        DataSample().set_gt_label(label % num_classes) for label in (0, 1)
    ]
    return dict(inputs=inputs, data_samples=samples)


def batch_for(cfg, model):
    """A batch the model of ``cfg`` trains and predicts on."""
    if cfg.default_scope == 'mmseg':
        return segmentation_batch(model.decode_head.num_classes)
    if cfg.default_scope == 'mmpretrain':
        return classification_batch(model.head.num_classes)
    roi_head = getattr(model, 'roi_head', None)
    with_semantic = getattr(roi_head, 'with_semantic', False)
    heads = getattr(roi_head, 'bbox_head', None) or model.bbox_head
    head = heads[0] if isinstance(heads, torch.nn.ModuleList) else heads
    return detection_batch(head.num_classes, with_semantic=with_semantic)
