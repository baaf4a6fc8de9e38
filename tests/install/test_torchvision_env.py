"""torchvision, and so mmdet, mmseg and mmpretrain, import and run in the
environment that tools/setup/setup_env.sh builds, in any order, without
``import mmvit_backbones``; and ``import mmvit_backbones`` itself changes
nothing but the registries and the checkpoint allow-list.

With the CPU torch the set-up installs tools/setup/torchvision_cpu.py into
the environment as ``mmvit_torchvision_cpu`` (docs/torchvision_cpu.md); with
a torchvision that matches its torch nothing is installed and the shim tests
are skipped.
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]

try:
    import mmvit_torchvision_cpu as shim
except ImportError:
    shim = None

STATE = shim.ensure_torchvision_importable() if shim else 'not installed'

shim_only = pytest.mark.skipif(
    STATE != 'shimmed',
    reason="torchvision's compiled extension loads; no shim in this "
    'environment')

TINY_ARCH = dict(embed_dims=[16, 32, 48, 64], depths=[1, 1, 1, 1],
                 num_heads=[2, 2, 2, 4])


def _run(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` (or a script with ``args``) in a fresh interpreter."""
    command = [sys.executable, '-c', code] if code else [sys.executable]
    return subprocess.run([*command, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize('statement', [
    'import torchvision',
    'import mmdet.models',
    'from mmdet.apis import DetInferencer',
    'import mmseg.models',
    'import mmpretrain.models, mmpretrain.evaluation, mmpretrain.datasets',
    'from mmengine.utils.dl_utils import collect_env; collect_env()',
])
def test_frameworks_import_without_mmvit_backbones(statement):
    """Each in a fresh interpreter that never imports mmvit_backbones."""
    proc = _run(f'{statement}\n'
                'import sys\n'
                'assert "mmvit_backbones" not in sys.modules\n')
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize('package,script', [
    ('mmdet', 'tools/analysis_tools/browse_dataset.py'),
    ('mmseg', 'tools/analysis_tools/get_flops.py'),
])
def test_framework_tools_start_without_mmvit_backbones(package, script):
    """The frameworks' own scripts import everything before parsing their
    arguments; ``--help`` shows they get that far."""
    spec = importlib.util.find_spec(package)
    path = Path(spec.origin).parent / '.mim' / script
    assert path.is_file(), path
    proc = _run('', str(path), '--help')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'usage:' in proc.stdout


def test_import_mmvit_backbones_changes_nothing_else():
    """No import hook, no torchvision, no log line, no torch.load default
    changed; MMEngine's Config untouched."""
    code = (
        'import sys, torch\n'
        'from mmengine.config import Config\n'
        'hooks = list(sys.meta_path)\n'
        'get_cfg_path = Config.__dict__["_get_cfg_path"]\n'
        'import mmvit_backbones\n'
        'assert sys.meta_path == hooks, sys.meta_path\n'
        'assert Config.__dict__["_get_cfg_path"] is get_cfg_path\n'
        'assert "torchvision" not in sys.modules\n'
        'assert not any(m.startswith(("mmdet", "mmseg", "mmpretrain"))\n'
        '               for m in sys.modules)\n'
        'from mmengine.registry import MODELS\n'
        'assert MODELS.get("MAFormer") is not None\n')
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ''


def test_torchvision_is_installed():
    assert importlib.util.find_spec('torchvision') is not None, (
        'torchvision is not installed, so mmpretrain cannot be imported: run '
        'tools/setup/setup_env.sh (it installs requirements/torchvision.txt '
        'with --no-deps)')


@shim_only
def test_shim_is_idempotent_and_quiet():
    assert shim.ensure_torchvision_importable() == STATE
    assert shim.torchvision_shim_active()
    proc = _run('import torchvision')
    assert proc.returncode == 0 and proc.stderr == '', proc.stderr


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
    with pytest.raises(shim.TorchvisionOpsUnavailableError,
                       match=r'unavailable.*mmcv\.ops.*nms'):
        calls[call]()


@shim_only
def test_every_shimmed_compiled_op_raises():
    from torchvision.ops import deform_conv2d, ps_roi_align, roi_pool
    x = torch.rand(1, 4, 8, 8)
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    with pytest.raises(shim.TorchvisionOpsUnavailableError,
                       match=r'torchvision::roi_pool .*mmcv\.ops\.roi_pool'):
        roi_pool(x, rois, 2)
    with pytest.raises(shim.TorchvisionOpsUnavailableError,
                       match='torchvision::ps_roi_align'):
        ps_roi_align(x, rois, 2)
    with pytest.raises(shim.TorchvisionOpsUnavailableError,
                       match='DeformConv2d'):
        deform_conv2d(x, torch.zeros(1, 18, 6, 6), torch.rand(2, 4, 3, 3))
    with pytest.raises(shim.TorchvisionOpsUnavailableError,
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
    import mmvit_backbones  # noqa: F401
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
