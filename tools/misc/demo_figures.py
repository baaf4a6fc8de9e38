"""Draw a demo run's curves and predictions as pictures for the docs.

The curves are drawn by the frameworks' own ``analyze_logs.py`` (mmdet's for
a mini-COCO run, mmseg's for a mini-ADE20K run), so they look exactly like
what a user plots from their own runs; this script only picks the run's JSON
log and the keys. The predictions drawn by ``tools/test.py --show-dir`` (the
last step of ``tools/run_demo.sh``) are put in one picture.

Usage::

    python tools/misc/demo_figures.py WORK_DIR [--out-dir DIR] [--name NAME]

writes ``NAME_loss.png``, ``NAME_mAP.png`` (detection) or ``NAME_mIoU.png``
(segmentation) and ``NAME_predictions.jpg`` to DIR (default
``WORK_DIR/figures``; NAME defaults to the data set, ``mini-coco`` or
``mini-ade20k``). A resumed run writes one JSON log per start; the curves of
all of them are joined in time order.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
from glob import glob
from importlib.util import find_spec
from typing import List, Sequence

import cv2
import mmcv
import numpy as np

# What each framework's analyze_logs.py is asked to plot: a log key that
# only its validation writes, the script's sub-command (mmdet's has one),
# the figures as (file suffix, keys, legend), and the data set's name.
FIGURES = {
    'mmdet': dict(
        marker='coco/bbox_mAP',
        command=['plot_curve'],
        figures=[
            ('loss', ['loss', 'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls',
                      'loss_bbox', 'loss_mask'],
             ['total', 'RPN cls', 'RPN box', 'RoI cls', 'RoI box', 'mask']),
            ('mAP', ['bbox_mAP', 'segm_mAP'], ['bbox mAP', 'segm mAP']),
        ],
        name='mini-coco'),
    'mmseg': dict(
        marker='mIoU',
        command=[],
        figures=[('loss', ['loss'], ['loss']),
                 ('mIoU', ['mIoU'], ['mIoU'])],
        name='mini-ade20k'),
}


def json_logs(work_dir: str) -> List[str]:
    """The training runs' JSON logs in WORK_DIR, oldest first."""
    logs = sorted(glob(osp.join(work_dir, '*', 'vis_data', '*.json')))
    logs = [log for log in logs if osp.basename(log) != 'scalars.json']
    if not logs:
        raise SystemExit(f'error: {work_dir}: no training log '
                         '(<timestamp>/vis_data/<timestamp>.json); pass the '
                         '--work-dir of a tools/train.py run')
    return logs


def joined_log(logs: Sequence[str], out: str) -> None:
    """Write the records of LOGS to OUT in time order; a resumed run logs
    again the steps after its checkpoint, and the later record wins."""
    records = {}
    for log in logs:
        with open(log) as f:
            for line in f:
                record = json.loads(line)
                key = (record.get('epoch', 0), record.get('iter', 0),
                       record.get('step'), 'lr' in record)
                records[key] = line
    with open(out, 'w') as f:
        f.writelines(records.values())


def framework_of(log: str) -> str:
    with open(log) as f:
        keys = set().union(*(json.loads(line) for line in f))
    for framework, settings in FIGURES.items():
        if settings['marker'] in keys:
            return framework
    markers = ', '.join(settings['marker'] for settings in FIGURES.values())
    raise SystemExit(f'error: {log}: no validation metric ({markers}); '
                     'the curves need a run that validated during training')


def analyze_logs_script(framework: str) -> str:
    spec = find_spec(framework)
    if spec is None:
        raise SystemExit(f'error: {framework} is not installed; it draws '
                         'the curves (pip install "mmvit_backbones[det]" or '
                         '"[seg]")')
    return osp.join(osp.dirname(spec.origin), '.mim', 'tools',
                    'analysis_tools', 'analyze_logs.py')


def draw_curves(log: str, framework: str, out_dir: str, name: str,
                title: str) -> List[str]:
    script = analyze_logs_script(framework)
    written = []
    settings = FIGURES[framework]
    for suffix, keys, legend in settings['figures']:
        out = osp.join(out_dir, f'{name}_{suffix}.png')
        command = [sys.executable, script, *settings['command'], log,
                   '--keys', *keys, '--legend', *legend, '--backend', 'agg',
                   '--style', 'whitegrid', '--title', title, '--out', out]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        written.append(out)
    return written


def draw_predictions(work_dir: str, out: str, columns: int = 2) -> str:
    """Put the --show-dir pictures of WORK_DIR/predictions (each the ground
    truth beside the prediction) in a grid of COLUMNS, at their own size."""
    pictures = sorted(
        glob(osp.join(work_dir, 'predictions', '**', '*.png'),
             recursive=True) +
        glob(osp.join(work_dir, 'predictions', '**', '*.jpg'),
             recursive=True))
    if not pictures:
        raise SystemExit(f'error: {work_dir}/predictions holds no pictures; '
                         'tools/run_demo.sh draws them (tools/test.py '
                         '--show-dir)')
    images = [mmcv.imread(p) for p in pictures]
    height = max(image.shape[0] for image in images)
    width = max(image.shape[1] for image in images)
    rows = -(-len(images) // columns)
    gap = 4
    grid = np.full((rows * (height + gap) - gap,
                    columns * (width + gap) - gap, 3), 255, np.uint8)
    for index, image in enumerate(images):
        top = index // columns * (height + gap)
        left = index % columns * (width + gap)
        grid[top:top + image.shape[0], left:left + image.shape[1]] = image
    mmcv.imwrite(grid, out, params=[cv2.IMWRITE_JPEG_QUALITY, 90])
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dir', help='the --work-dir of a demo run')
    parser.add_argument('--out-dir', help='default: WORK_DIR/figures')
    parser.add_argument('--name', help='file name prefix; default: the '
                        'data set (mini-coco or mini-ade20k)')
    args = parser.parse_args(argv)
    logs = json_logs(args.work_dir)
    out_dir = args.out_dir or osp.join(args.work_dir, 'figures')
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        log = osp.join(tmp, 'train.json')
        joined_log(logs, log)
        framework = framework_of(log)
        name = args.name or FIGURES[framework]['name']
        title = osp.basename(osp.normpath(args.work_dir))
        written = draw_curves(log, framework, out_dir, name, title)
    written.append(
        draw_predictions(args.work_dir,
                         osp.join(out_dir, f'{name}_predictions.jpg')))
    for path in written:
        print(path)


if __name__ == '__main__':
    main()
