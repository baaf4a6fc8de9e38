"""The README's main job, shrunk: generate mini-COCO, train, then evaluate.

Runs the real tools as subprocesses (tools/train.py, tools/test.py) on the
real demo config, with only the data location and the number of epochs
overridden, and checks that the evaluation prints COCO bbox and segm mAP for
the checkpoint the training wrote; then draws the training curves (loss,
and the mAP of the validation after the epoch) and the predictions drawn by
``--show-dir`` with tools/misc/demo_figures.py.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import mmcv
import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = 'configs/maformer/mask-rcnn_maformer-s_1x_mini-coco.py'


def run(args, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900,
                          **kwargs)


def data_overrides(data_root):
    ann = f'{data_root}/annotations/instances_val.json'
    return [
        f'train_dataloader.dataset.data_root={data_root}/',
        f'val_dataloader.dataset.data_root={data_root}/',
        f'test_dataloader.dataset.data_root={data_root}/',
        f'val_evaluator.ann_file={ann}',
        f'test_evaluator.ann_file={ann}',
    ]


@pytest.fixture(scope='module')
def mini_coco(tmp_path_factory):
    out = tmp_path_factory.mktemp('mini_coco')
    done = run(['tools/misc/make_mini_coco.py', '--out', str(out),
                '--num-train', '8', '--num-val', '4'])
    assert done.returncode == 0, done.stderr
    return out


def test_train_then_test_on_bundled_data(mini_coco, tmp_path):
    work_dir = tmp_path / 'work'
    trained = run(['tools/train.py', CONFIG, '--work-dir', str(work_dir),
                   '--cfg-options', 'train_cfg.max_epochs=1',
                   *data_overrides(mini_coco)])
    assert trained.returncode == 0, trained.stderr[-3000:]
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.is_file()

    tested = run(['tools/test.py', CONFIG, str(checkpoint), '--work-dir',
                  str(tmp_path / 'test'), '--show-dir',
                  str(work_dir / 'predictions'), '--cfg-options',
                  *data_overrides(mini_coco)])
    assert tested.returncode == 0, tested.stderr[-3000:]
    log = tested.stdout + tested.stderr
    for metric in ('bbox', 'segm'):
        found = re.search(rf'coco/{metric}_mAP: (-?[0-9.]+)', log)
        assert found, f'no {metric} mAP in the test output'
        assert 0.0 <= float(found.group(1)) <= 1.0

    drawn = run(['tools/misc/demo_figures.py', str(work_dir)])
    assert drawn.returncode == 0, drawn.stderr[-3000:]
    figures = drawn.stdout.split()
    assert [Path(f).name for f in figures] == [
        'mini-coco_loss.png', 'mini-coco_mAP.png',
        'mini-coco_predictions.jpg']
    # the 4 val images (ground truth | prediction, 128 x 256 each), 2 x 2
    assert mmcv.imread(figures[-1]).shape == (2 * 128 + 4, 2 * 256 + 4, 3)
