"""Test (and evaluate) a detector or segmentor checkpoint.

The flags follow mmdet 3.x and mmseg 1.x ``tools/test.py``; the config's
``default_scope`` decides what ``--out``, ``--show-dir`` and ``--tta`` do:

* ``mmdet``: ``--out`` dumps the predictions to a ``.pkl`` file,
  ``--show-dir`` is the ``test_out_dir`` of ``DetVisualizationHook`` and
  ``--tta`` falls back to horizontal-flip TTA when the config has none;
* ``mmseg``: ``--out`` is a directory for the predicted masks (PNG files),
  ``--show-dir`` is the visualizer's ``save_dir`` and ``--tta`` uses the
  config's ``tta_model`` / ``tta_pipeline``.

The evaluator's metrics (COCO bbox/segm mAP, mIoU) are logged at the end.
Run ``python tools/test.py CONFIG CKPT`` for one process and
``tools/dist_test.sh CONFIG CKPT NGPUS`` for several.
"""
import argparse
import copy
import os
import os.path as osp
import sys
from functools import partial
from typing import Optional, Sequence

from mmengine.config import Config, ConfigDict
from torch import nn

import mmvit_backbones  # noqa: F401  (registers the backbones, safe globals)
from mmvit_backbones.checkpoint import checkpoint_keys, first_keys
from mmvit_backbones.cli.runner import (add_common_arguments, build_runner,
                                        load_config, prepare_distributed,
                                        run_guarded)

VISUALIZATION_HOOKS = {
    'mmdet': 'DetVisualizationHook',
    'mmseg': 'SegVisualizationHook',
}
DETECTION_TTA_MODEL = dict(
    type='DetTTAModel',
    tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
FLIP_META_KEYS = ('flip', 'flip_direction')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line of tools/test.py."""
    parser = argparse.ArgumentParser(
        description='Test and evaluate an mmdet or mmseg checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file to test')
    parser.add_argument(
        '--work-dir', help='directory for logs and the metrics json file')
    parser.add_argument(
        '--out',
        help='mmdet: .pkl file for the raw predictions; mmseg: directory '
        'for the predicted masks')
    parser.add_argument(
        '--show', action='store_true', help='show predictions in a window')
    parser.add_argument(
        '--show-dir',
        help='save images painted with predictions here (a relative path is '
        'placed under WORK_DIR/TIMESTAMP for mmdet)')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='seconds each image is shown with --show')
    parser.add_argument(
        '--tta', action='store_true', help='test-time augmentation')
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def config_scope(cfg: Config, option: str) -> str:
    """The config's default_scope, which must be mmdet or mmseg for option.
    """
    scope = cfg.get('default_scope')
    if scope not in VISUALIZATION_HOOKS:
        raise SystemExit(
            f'error: {option} supports configs with default_scope mmdet or '
            f'mmseg, but this config has default_scope={scope!r}')
    return scope


def enable_visualization(cfg: Config, args: argparse.Namespace) -> None:
    """Turn on drawing in the visualization hook for --show / --show-dir.

    The scope's hook (DetVisualizationHook or SegVisualizationHook) is added
    under ``default_hooks.visualization`` when the config has none.
    """
    scope = config_scope(cfg, '--show/--show-dir')
    hooks = cfg.setdefault('default_hooks', ConfigDict())
    hook = hooks.setdefault('visualization',
                            ConfigDict(type=VISUALIZATION_HOOKS[scope]))
    hook.draw = True
    if args.show:
        hook.show = True
        hook.wait_time = args.wait_time
    if args.show_dir:
        if scope == 'mmdet':
            hook.test_out_dir = args.show_dir
        elif 'visualizer' in cfg:
            cfg.visualizer.save_dir = args.show_dir
        else:
            raise SystemExit('error: --show-dir needs a visualizer in the '
                             'config, e.g. visualizer = dict(type='
                             '"SegLocalVisualizer", vis_backends=[dict(type='
                             '"LocalVisBackend")])')


def innermost_dataset(dataset_cfg: ConfigDict) -> ConfigDict:
    """Follow dataset wrappers (``dataset=...``) to the dataset with a
    pipeline."""
    while 'dataset' in dataset_cfg:
        dataset_cfg = dataset_cfg.dataset
    return dataset_cfg


def detection_flip_tta_pipeline(test_pipeline: list) -> list:
    """Turn a detection test pipeline into a flip/no-flip TTA pipeline.

    The final packing transform runs once per flip variant, with the flip
    fields added to its meta keys so that DetTTAModel can undo the flip.
    """
    *loading, pack = copy.deepcopy(test_pipeline)
    if 'meta_keys' in pack:
        pack.meta_keys = tuple(pack.meta_keys) + tuple(
            key for key in FLIP_META_KEYS if key not in pack.meta_keys)
    flips = [
        dict(type='RandomFlip', prob=1.),
        dict(type='RandomFlip', prob=0.)
    ]
    return loading + [dict(type='TestTimeAug', transforms=[flips, [pack]])]


def enable_tta(cfg: Config) -> None:
    """Wrap the model in the config's TTA model and use its TTA pipeline.

    Detection configs without ``tta_model`` / ``tta_pipeline`` get
    DetTTAModel with flip TTA; segmentation configs must define both (the
    mmseg base configs do).
    """
    scope = config_scope(cfg, '--tta')
    dataset = innermost_dataset(cfg.test_dataloader.dataset)
    if scope == 'mmdet':
        cfg.setdefault('tta_model', ConfigDict(DETECTION_TTA_MODEL))
        cfg.setdefault('tta_pipeline',
                       detection_flip_tta_pipeline(dataset.pipeline))
    missing = [key for key in ('tta_model', 'tta_pipeline') if key not in cfg]
    if missing:
        raise SystemExit(
            f'error: --tta needs {" and ".join(missing)} in the config, e.g. '
            'tta_model = dict(type="SegTTAModel") and a tta_pipeline with a '
            'TestTimeAug transform (see the mmseg dataset base configs)')
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    dataset.pipeline = cfg.tta_pipeline


def set_segmentation_output_dir(cfg: Config, out_dir: str) -> None:
    """Make the segmentation metrics save predicted masks to out_dir."""
    evaluators = cfg.test_evaluator
    if not isinstance(evaluators, (list, tuple)):
        evaluators = [evaluators]
    for evaluator in evaluators:
        evaluator.output_dir = out_dir
        evaluator.keep_results = True


def check_detection_out_file(out_file: str) -> None:
    """mmdet's DumpDetResults writes a pickle; its name must say so."""
    if not out_file.endswith(('.pkl', '.pickle')):
        raise SystemExit(
            f'error: --out {out_file!r}: detection predictions are dumped '
            'to a pickle file, give a path ending in .pkl or .pickle')


def add_detection_dump(runner, out_file: str) -> None:
    """Append mmdet's DumpDetResults metric to the runner's test evaluator.
    """
    from mmdet.evaluation import DumpDetResults
    runner.test_evaluator.metrics.append(
        DumpDetResults(out_file_path=out_file))


def check_checkpoint_exists(checkpoint: str) -> None:
    """Fail early on a missing local checkpoint (URLs are left to MMEngine).
    """
    if '://' not in checkpoint and not osp.isfile(checkpoint):
        raise SystemExit(f'error: checkpoint {checkpoint!r} not found')


def check_checkpoint_fits(model: nn.Module, checkpoint: str) -> None:
    """Exit with the keys at fault if the local ``checkpoint`` lacks
    parameters of ``model`` (which may be wrapped, e.g. by DDP or TTA).

    MMEngine would only warn and test the weights the model was built
    with, logging a meaningless mAP or mIoU.
    """
    if '://' in checkpoint:
        return
    model = getattr(model, 'module', model)
    keys = set(checkpoint_keys(checkpoint))
    names = [name for name, _ in model.named_parameters()]
    missing = [name for name in names if name not in keys]
    if not missing:
        return
    unknown = sorted(keys - set(model.state_dict()))
    extra = (f' and {len(unknown)} of its keys are not in the model '
             f'({first_keys(unknown)})' if unknown else '')
    sys.exit(f'error: {checkpoint!r} does not fit the model of the config: '
             f'{len(missing)} of its {len(names)} parameters are not in it '
             f'({first_keys(missing)}){extra}. Was it trained with another '
             'config?')


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point of tools/test.py."""
    args = parse_args(argv)
    check_checkpoint_exists(args.checkpoint)
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    if args.tta:
        enable_tta(cfg)
    scope = config_scope(cfg, '--out') if args.out else None
    if scope == 'mmdet':
        check_detection_out_file(args.out)
    elif scope == 'mmseg':
        set_segmentation_output_dir(cfg, args.out)
    prepare_distributed(cfg)
    runner = build_runner(cfg)
    if scope == 'mmdet':
        add_detection_dump(runner, args.out)
    run_guarded(partial(check_checkpoint_fits, runner.model, args.checkpoint),
                [args.checkpoint])
    run_guarded(runner.test, [args.checkpoint])


if __name__ == '__main__':
    main()
