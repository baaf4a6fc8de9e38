"""torchvision (and so mmpretrain) imports and runs with the CPU torch.

See mmvit_backbones/compat.py and docs/torchvision_cpu.md.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import mmvit_backbones  # noqa: F401  (must come before torchvision/mmpretrain)
from mmvit_backbones import compat

ROOT = Path(__file__).resolve().parents[1]

# Idempotent; `import mmvit_backbones` has normally done it already. Called
# here too so that these in-process tests do not depend on test order.
STATE = compat.ensure_torchvision_importable()

# With torchvision missing ('absent') the tests fail on purpose: mmpretrain
# cannot import without it (tools/setup_env.sh installs it).
pytestmark = pytest.mark.skipif(
    STATE == 'disabled',
    reason=f'{compat.DISABLE_ENV} is set: the torchvision shim is off')

shim_only = pytest.mark.skipif(
    STATE != 'shimmed',
    reason="torchvision's compiled extension loaded; the shim is not active")

TINY_ARCH = dict(embed_dims=[16, 32, 48, 64], depths=[1, 1, 1, 1],
                 num_heads=[2, 2, 2, 4])


def test_import_mmvit_backbones_makes_mmpretrain_importable():
    """A fresh interpreter: the package import alone must be enough."""
    code = ('import mmvit_backbones, torchvision\n'
            'from mmvit_backbones import compat\n'
            'print("STATE", compat.ensure_torchvision_importable())\n'
            'import mmpretrain.models, mmpretrain.evaluation\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'STATE {STATE}' in proc.stdout
    warnings = [line for line in proc.stderr.splitlines()
                if 'TorchvisionOpsUnavailableError' in line]
    assert len(warnings) == (1 if STATE == 'shimmed' else 0), proc.stderr


def test_torchvision_is_installed():
    assert STATE != 'absent', (
        'torchvision is not installed, so mmpretrain cannot be imported: run '
        'tools/setup_env.sh (it installs requirements/torchvision.txt with '
        '--no-deps)')


def test_ensure_is_idempotent():
    assert compat.ensure_torchvision_importable() == STATE
    assert compat.torchvision_shim_active() == (STATE == 'shimmed')


def test_torchvision_and_mmpretrain_import():
    import torchvision
    import torchvision.transforms.v2  # noqa: F401
    import mmpretrain.datasets  # noqa: F401
    import mmpretrain.evaluation  # noqa: F401
    import mmpretrain.models  # noqa: F401
    assert torchvision.__version__


@shim_only
def test_extension_reported_missing():
    import torchvision
    assert not torchvision.extension._has_ops()


@shim_only
@pytest.mark.parametrize('call', ['wrapper', 'batched', 'dispatcher'])
def test_shimmed_nms_raises_clear_error(call):
    import torchvision
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.]])
    scores = torch.tensor([0.9, 0.8])
    calls = {
        'wrapper': lambda: torchvision.ops.nms(boxes, scores, 0.5),
        'batched': lambda: torchvision.ops.batched_nms(
            boxes, scores, torch.tensor([0, 0]), 0.5),
        'dispatcher': lambda: torch.ops.torchvision.nms(boxes, scores, 0.5),
    }
    with pytest.raises(compat.TorchvisionOpsUnavailableError,
                       match=r'unavailable.*mmcv\.ops.*nms'):
        calls[call]()


@shim_only
def test_every_shimmed_compiled_op_raises():
    from torchvision.ops import deform_conv2d, ps_roi_align, roi_pool
    x = torch.rand(1, 4, 8, 8)
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    with pytest.raises(compat.TorchvisionOpsUnavailableError,
                       match=r'torchvision::roi_pool .*mmcv\.ops\.roi_pool'):
        roi_pool(x, rois, 2)
    with pytest.raises(compat.TorchvisionOpsUnavailableError,
                       match='torchvision::ps_roi_align'):
        ps_roi_align(x, rois, 2)
    with pytest.raises(compat.TorchvisionOpsUnavailableError,
                       match='DeformConv2d'):
        deform_conv2d(x, torch.zeros(1, 18, 6, 6), torch.rand(2, 4, 3, 3))
    with pytest.raises(compat.TorchvisionOpsUnavailableError,
                       match='torchvision::roi_align'):
        torch.ops.torchvision.roi_align(x, rois, 1., 2, 2, 2, False)


def test_pure_python_ops_give_right_results():
    """box_iou is plain PyTorch; roi_align falls back to torchvision's
    pure-PyTorch implementation when the extension is missing."""
    from torchvision.ops import box_iou
    boxes = torch.tensor([[0., 0., 10., 10.], [5., 0., 15., 10.]])
    assert torch.allclose(box_iou(boxes, boxes)[0, 1], torch.tensor(1 / 3))
    mmcv_ops = pytest.importorskip('mmcv.ops')
    x = torch.rand(1, 3, 16, 16)
    rois = torch.tensor([[0., 1., 2., 9., 12.], [0., 0., 0., 15., 15.]])
    # torchvision.ops.roi_align runs this pure-PyTorch function through
    # torch.compile on first use (about 30 s on 2 cores, needs a C++
    # compiler); test the function itself, eagerly, to stay fast.
    fallback = sys.modules['torchvision.ops.roi_align']._roi_align
    fallback = getattr(fallback, '__wrapped__', fallback)
    ours = fallback(x, rois, 1.0, 3, 3, 2, True)
    ref = mmcv_ops.roi_align(x, rois, (3, 3), 1.0, 2, 'avg', True)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_maformer_builds_in_mmpretrain_scope():
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(type='MAFormer', arch='s'))
    assert type(model).__name__ == 'MAFormer'


def _pipeline(transforms):
    from mmengine.dataset import Compose
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import TRANSFORMS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return Compose([TRANSFORMS.build(t) for t in transforms])


def _image(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)


def test_imagenet_and_torchvision_pipelines_run():
    imagenet = _pipeline([
        dict(type='RandomResizedCrop', scale=32),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='PackInputs'),
    ])
    # mmpretrain's wrappers around torchvision.transforms (the MFF/SparK
    # configs use them) and PackInputs on a PIL image (torchvision's
    # pil_to_tensor).
    tv = _pipeline([
        dict(type='NumpyToPIL', to_rgb=True),
        dict(type='torchvision/RandomResizedCrop', size=32),
        dict(type='torchvision/RandomHorizontalFlip', p=0.5),
        dict(type='torchvision/TrivialAugmentWide'),
        dict(type='PackInputs'),
    ])
    for pipeline in (imagenet, tv):
        out = pipeline(dict(img=_image(), gt_label=1))
        assert out['inputs'].shape == (3, 32, 32)
        assert out['inputs'].dtype == torch.uint8
        assert out['data_samples'].gt_label.tolist() == [1]


def test_image_classifier_trains_and_evaluates_on_cpu():
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import OptimWrapper
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import METRICS, MODELS

    pipeline = _pipeline([
        dict(type='RandomResizedCrop', scale=32),
        dict(type='PackInputs'),
    ])
    batch = pseudo_collate(
        [pipeline(dict(img=_image(i), gt_label=i % 3)) for i in range(4)])
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(
            type='ImageClassifier',
            data_preprocessor=dict(type='ClsDataPreprocessor',
                                   mean=[123.675, 116.28, 103.53],
                                   std=[58.395, 57.12, 57.375],
                                   to_rgb=True),
            backbone=dict(type='MAFormer', arch=TINY_ARCH,
                          drop_path_rate=0.),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=3, in_channels=64,
                      loss=dict(type='CrossEntropyLoss'))))
        metric = METRICS.build(dict(type='Accuracy', topk=(1, )))
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    model.train()
    losses = model.train_step(batch, optim)
    assert torch.isfinite(losses['loss'])
    model.eval()
    preds = model.val_step(batch)
    metric.process(batch, [p.to_dict() for p in preds])
    result = metric.evaluate(len(preds))
    assert 0 <= result['accuracy/top1'] <= 100
