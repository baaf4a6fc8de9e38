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
import datetime
import difflib
import importlib.util
import inspect
import os
import os.path as osp
import sys
from typing import Callable, Optional, Sequence

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.device import get_device
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.registry import (HOOKS, MODEL_WRAPPERS, RUNNERS, DefaultScope,
                               init_default_scope)
from mmengine.runner import Runner, find_latest_checkpoint
from torch.nn.parallel import DistributedDataParallel

import mmvit_backbones  # noqa: F401  (registers the backbones, safe globals)
from mmvit_backbones.checkpoint import (CorruptCheckpointError,
                                        UnsafeCheckpointError,
                                        refuse_unsafe_checkpoints)
from mmvit_backbones.utils.frameworks import (FRAMEWORKS,
                                              missing_framework_message)

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
AMP_DEVICES = ('cuda', 'npu', 'mlu', 'musa')


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags that train.py and test.py share."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings with key=value pairs, e.g. '
        'train_cfg.max_iters=100 or key="[a,b]" for a list (no spaces)')
    parser.add_argument(
        '--launcher',
        choices=LAUNCHERS,
        default='none',
        help='job launcher (pytorch for torchrun / tools/dist_*.sh)')
    parser.add_argument(
        '--local_rank',
        '--local-rank',
        type=int,
        default=0,
        help='set by torch.distributed.launch; torchrun sets LOCAL_RANK')


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


def load_config(args: argparse.Namespace) -> Config:
    """Read the config and apply --cfg-options, --launcher and --work-dir.

    The work directory is, by priority, ``--work-dir``, the config's
    ``work_dir`` and ``./work_dirs/<config name>``.
    """
    if not osp.isfile(args.config):
        raise SystemExit(f'error: config file {args.config!r} not found')
    try:
        cfg = Config.fromfile(args.config)
    except ModuleNotFoundError as error:
        # MMEngine's words for a missing 'mmdet::' (...) base config.
        missing = [name for name, (distribution, _) in FRAMEWORKS.items()
                   if str(error).startswith(f'{distribution} is not installed')]
        if not missing:
            raise
        raise SystemExit('error: ' + missing_framework_message(
            missing[0], args.config)) from None
    scope = cfg.get('default_scope')
    if scope in FRAMEWORKS and importlib.util.find_spec(scope) is None:
        raise SystemExit('error: ' +
                         missing_framework_message(scope, args.config))
    cfg.launcher = args.launcher
    if args.cfg_options:
        check_cfg_options(cfg, args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    check_hook_arguments(cfg)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        name = osp.splitext(osp.basename(args.config))[0]
        cfg.work_dir = osp.join('./work_dirs', name)
    return cfg


def check_cfg_options(cfg: Config, options: dict) -> None:
    """Refuse a ``--cfg-options`` key whose path does not exist in the
    config, naming the closest existing key; MMEngine would add it silently
    and nothing would read it (``optim_wraper.optimizer.lr=0.1``).

    A new last component is allowed below an existing dict (an option the
    config leaves at its default, ``model.backbone.with_cp=True``), and so is
    a new top-level key that the Runner takes (``randomness.seed=0``).
    """
    runner_keys = set(inspect.signature(Runner.__init__).parameters)
    for key in options:
        parts = key.split('.')
        node, path = cfg._cfg_dict, []
        for depth, part in enumerate(parts):
            is_last = depth == len(parts) - 1
            if isinstance(node, (list, tuple)) and part.isdigit():
                if int(part) < len(node):
                    node, path = node[int(part)], path + [part]
                    continue
                raise SystemExit(
                    f'error: --cfg-options {key}: {".".join(path)} has '
                    f'{len(node)} items, no index {part}')
            if not isinstance(node, dict):
                raise SystemExit(
                    f'error: --cfg-options {key}: {".".join(path)} is '
                    f'{type(node).__name__}, not a dict with a key {part!r}')
            if part in node:
                node, path = node[part], path + [part]
                continue
            if is_last and depth > 0:
                break
            if depth == 0 and part in runner_keys:
                break
            close = difflib.get_close_matches(part, [str(k) for k in node],
                                              n=1)
            hint = (f'; did you mean {".".join(path + close)}?'
                    if close else '')
            where = ('the config' if not path else '.'.join(path))
            raise SystemExit(f'error: --cfg-options {key}: {where} has no '
                             f'key {part!r}{hint}')


def check_hook_arguments(cfg: Config) -> None:
    """Refuse a hook argument that the hook's constructor does not take
    (``default_hooks.checkpoint.intervall=5``) before training starts,
    rather than when the Runner builds the hooks or the hook first runs."""
    hooks = [(f'default_hooks.{name}', hook)
             for name, hook in (cfg.get('default_hooks') or {}).items()]
    hooks += [(f'custom_hooks.{i}', hook)
              for i, hook in enumerate(cfg.get('custom_hooks') or [])]
    scope = cfg.get('default_scope', 'mmengine')
    with DefaultScope.overwrite_default_scope(scope), \
            HOOKS.switch_scope_and_registry(scope) as registry:
        for where, hook in hooks:
            if not isinstance(hook, dict) or not isinstance(
                    hook.get('type'), str):
                continue
            hook_cls = registry.get(hook['type'])
            if hook_cls is None:
                raise SystemExit(f'error: {where}: unknown hook type '
                                 f'{hook["type"]!r}')
            params = inspect.signature(hook_cls.__init__).parameters
            # CheckpointHook's **kwargs go to Runner.save_checkpoint, whose
            # every parameter the hook already sets: any extra one fails at
            # the first save. Other hooks' **kwargs cannot be checked here.
            if any(p.kind is p.VAR_KEYWORD for p in params.values()) and \
                    not issubclass(hook_cls, CheckpointHook):
                continue
            valid = [name for name, p in params.items()
                     if name != 'self' and p.kind is not p.VAR_KEYWORD]
            for name in hook:
                # type, and MMEngine's own markers (_scope_ of a base from
                # mmdet::, _delete_), are not arguments.
                if name == 'type' or (name.startswith('_')
                                      and name.endswith('_')):
                    continue
                if name not in valid:
                    close = difflib.get_close_matches(name, valid, n=1)
                    hint = f'; did you mean {close[0]}?' if close else ''
                    raise SystemExit(
                        f'error: {where}: {hook["type"]} takes no argument '
                        f'{name!r}{hint} (it takes {", ".join(valid)})')


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


def uses_cpu_distributed(cfg: Config) -> bool:
    """Whether a distributed launcher is used on a machine without CUDA."""
    return cfg.launcher != 'none' and not torch.cuda.is_available()


def cpu_model_wrapper_cfg(cfg: Config) -> ConfigDict:
    """Model wrapper settings for DistributedDataParallel on CPU.

    The Runner passes ``device_ids=[LOCAL_RANK]`` to DistributedDataParallel,
    which rejects device ids for a CPU module; ``device_ids=None`` avoids it.
    Buffers (BatchNorm statistics) are not synced in forward, as in
    MMEngine's default wrapper; ``forward_sync_buffers=False`` says so with
    torch's current argument (``broadcast_buffers`` is deprecated) and syncs
    them once at the start.
    """
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        type='MMDistributedDataParallel',
        forward_sync_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_type = wrapper.get('type', 'MMDistributedDataParallel')
    if isinstance(wrapper_type, str):
        wrapper_type = MODEL_WRAPPERS.get(wrapper_type)
    if isinstance(wrapper_type, type) and issubclass(wrapper_type,
                                                      DistributedDataParallel):
        wrapper.setdefault('device_ids', None)
    return wrapper


def init_cpu_process_group(cfg: Config) -> None:
    """Join the gloo process group that torchrun describes in the environment.

    MMEngine's own initialisation calls ``torch.cuda.set_device``, which fails
    without CUDA; once the group exists the Runner skips it. Only the pytorch
    launcher is supported on CPU: slurm and mpi derive ranks from their own
    variables and MMEngine pins a CUDA device for them.
    """
    if cfg.launcher != 'pytorch':
        raise SystemExit(
            f'error: --launcher {cfg.launcher} needs CUDA; on a CPU-only '
            'machine run several processes with --launcher pytorch '
            '(tools/dist_train.sh, tools/dist_test.sh or torchrun)')
    dist_cfg = cfg.env_cfg.dist_cfg
    timeout = dist_cfg.get('timeout')
    kwargs = {} if timeout is None else dict(
        timeout=datetime.timedelta(seconds=timeout))
    torch.distributed.init_process_group(backend=dist_cfg.backend, **kwargs)


def sync_bn_to_bn(node):
    """``node`` with every ``type='SyncBN'`` norm config turned into
    ``type='BN'``, in place; returns the number replaced."""
    replaced = 0
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            replaced += 1
        for value in node.values():
            replaced += sync_bn_to_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            replaced += sync_bn_to_bn(value)
    return replaced


def prepare_distributed(cfg: Config) -> None:
    """On a CPU-only machine, set up a distributed launch with gloo.

    torch's SyncBatchNorm only synchronises GPU tensors (it raises on CPU
    inputs in a distributed run), so SyncBN norms become BN: each process
    normalises its own batch.
    """
    if not uses_cpu_distributed(cfg):
        return
    if sync_bn_to_bn(cfg.get('model')):
        print_log('No CUDA: SyncBN replaced by BN (per-process batch '
                  'statistics)', logger='current')
    cfg.setdefault('env_cfg', ConfigDict())
    cfg.env_cfg.setdefault('dist_cfg', ConfigDict())
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    cfg.model_wrapper_cfg = cpu_model_wrapper_cfg(cfg)
    if not torch.distributed.is_initialized():
        init_cpu_process_group(cfg)


def build_runner(cfg: Config) -> Runner:
    """Build the default Runner, or the config's ``runner_type``."""
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    return RUNNERS.build(cfg)


def checkpoints_to_load(cfg: Config) -> list:
    """Local checkpoint files the Runner may load for this config."""
    candidates = [cfg.get('load_from')]
    if cfg.get('resume') and not cfg.get('load_from'):
        candidates.append(find_latest_checkpoint(cfg.work_dir))
    return [path for path in candidates if path]


def run_guarded(step: Callable[[], object], candidates: Sequence[str]):
    """Run ``step``; exit with a clear message if a checkpoint is refused."""
    try:
        with refuse_unsafe_checkpoints(*candidates):
            return step()
    except (UnsafeCheckpointError, CorruptCheckpointError) as error:
        sys.exit(f'error: {error}')


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
    prepare_distributed(cfg)
    runner = build_runner(cfg)
    run_guarded(runner.train, checkpoints_to_load(cfg))


if __name__ == '__main__':
    main()
