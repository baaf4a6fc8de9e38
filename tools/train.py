"""Train a detector or segmentor whose backbone comes from mmvit_backbones.

The flags follow mmdet 3.x and mmseg 1.x ``tools/train.py``; the config's
``default_scope`` (``mmdet`` or ``mmseg``) decides the scope-specific parts.
Differences from those scripts: ``--resume`` takes an optional path for both
scopes, ``--amp`` fails early without an accelerator, distributed runs on a
CPU-only machine use the gloo backend, and a checkpoint that torch refuses to
unpickle ends the run with one clear message instead of a stack trace.

Run ``python tools/train.py CONFIG`` for one process and
``tools/dist_train.sh CONFIG NGPUS`` for several.
"""
import argparse
import os
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.device import get_device
from mmengine.runner import find_latest_checkpoint

import mmvit_backbones  # noqa: F401  (registers the backbones, safe globals)
from mmvit_backbones.cli.runner import (add_common_arguments, build_runner,
                                        load_config, prepare_distributed,
                                        run_guarded)
from mmvit_backbones.engine import EagerOptimizerStepHook

AMP_DEVICES = ('cuda', 'npu', 'mlu', 'musa')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line of tools/train.py."""
    parser = argparse.ArgumentParser(
        description='Train an mmdet or mmseg model with an mmvit_backbones '
        'backbone')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--work-dir', help='directory for logs and checkpoints')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='automatic mixed precision (AmpOptimWrapper; needs CUDA)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual batch size relative to '
        'auto_scale_lr.base_batch_size of the config')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        metavar='PATH',
        help='resume from PATH, or without PATH from the latest checkpoint '
        'in the work directory')
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def check_checkpoints_resume_whole_epochs(cfg: Config) -> None:
    """Refuse iteration checkpoints (``CheckpointHook(by_epoch=False)``) in
    an epoch-based training loop.

    MMEngine's ``EpochBasedTrainLoop`` resumes a checkpoint written in the
    middle of an epoch by running that whole epoch again: more iterations
    than the schedule has, a negative ETA, a learning-rate schedule that
    runs past its end, and a final iteration that never matches, so the
    final model is not saved. Epoch checkpoints resume exactly.
    """
    train_cfg = cfg.get('train_cfg') or {}
    loop = train_cfg.get('type',
                         'EpochBasedTrainLoop' if 'max_epochs' in train_cfg
                         else None)
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    if loop in ('EpochBasedTrainLoop', 'mmengine.EpochBasedTrainLoop') and \
            checkpoint.get('by_epoch', True) is False:
        raise SystemExit(
            'error: default_hooks.checkpoint.by_epoch=False writes checkpoints '
            'in the middle of epochs, which EpochBasedTrainLoop cannot resume '
            '(it would run the interrupted epoch again from its start, past '
            'the schedule, and never save the final model): checkpoint every '
            'epoch (by_epoch=True, interval=1) or train with an '
            'IterBasedTrainLoop')


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to AmpOptimWrapper with a dynamic scale.

    MMEngine's AmpOptimWrapper refuses to run without a CUDA, NPU, MLU or
    MUSA device, so a CPU-only machine gets a clear error up front.
    """
    device = get_device()
    if device not in AMP_DEVICES:
        raise SystemExit(
            f'error: --amp needs a CUDA (or NPU/MLU/MUSA) device, but this '
            f'machine only has {device!r}: MMEngine\'s AmpOptimWrapper does '
            'not run on CPU. Drop --amp to train in float32.')
    wrapper = cfg.optim_wrapper
    wrapper_type = wrapper.get('type', 'OptimWrapper')
    if wrapper_type == 'AmpOptimWrapper':
        return
    if wrapper_type != 'OptimWrapper':
        raise SystemExit(
            f'error: --amp replaces optim_wrapper.type OptimWrapper by '
            f'AmpOptimWrapper, but the config uses {wrapper_type!r}')
    wrapper.type = 'AmpOptimWrapper'
    wrapper.setdefault('loss_scale', 'dynamic')


def enable_auto_scale_lr(cfg: Config) -> None:
    """Turn on the config's auto_scale_lr, which must name a base batch size.
    """
    settings = cfg.get('auto_scale_lr')
    if not settings or 'base_batch_size' not in settings:
        raise SystemExit(
            'error: --auto-scale-lr needs auto_scale_lr = dict(enable=False, '
            'base_batch_size=N) in the config, N being the total batch size '
            'the learning rate was tuned for')
    settings.enable = True


def apply_resume(cfg: Config, resume: Optional[str]) -> None:
    """Set cfg.resume / cfg.load_from from the --resume value.

    ``'auto'`` resumes from the work directory's latest checkpoint (a fresh
    start when there is none); any other value is the checkpoint to resume.
    """
    if resume is None:
        return
    cfg.resume = True
    cfg.load_from = None if resume == 'auto' else resume


def checkpoints_to_load(cfg: Config) -> list:
    """Local checkpoint files the Runner may load for this config."""
    candidates = [cfg.get('load_from')]
    if cfg.get('resume') and not cfg.get('load_from'):
        candidates.append(find_latest_checkpoint(cfg.work_dir))
    return [path for path in candidates if path]


def keep_optimizer_step_eager(cfg: Config) -> None:
    """With ``compile`` set, add :class:`EagerOptimizerStepHook` (once): the
    Runner compiles ``train_step``, and Dynamo fails on the optimizer update
    inside it."""
    if not cfg.get('compile'):
        return
    hooks = list(cfg.get('custom_hooks', []))
    if not any(hook.get('type') in ('EagerOptimizerStepHook',
                                    EagerOptimizerStepHook)
               for hook in hooks):
        cfg.custom_hooks = hooks + [dict(type='EagerOptimizerStepHook')]


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point of tools/train.py."""
    args = parse_args(argv)
    cfg = load_config(args)
    check_checkpoints_resume_whole_epochs(cfg)
    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)
    apply_resume(cfg, args.resume)
    keep_optimizer_step_eager(cfg)
    prepare_distributed(cfg)
    runner = build_runner(cfg)
    run_guarded(runner.train, checkpoints_to_load(cfg))


if __name__ == '__main__':
    main()
