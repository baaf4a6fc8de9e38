"""Config loading and Runner setup shared by ``tools/train.py`` and
``tools/test.py``.

Both tools read a config with ``--cfg-options`` checked against it and hook
arguments checked against the hooks' constructors, set up a distributed run
(gloo on a machine without CUDA), build the Runner and run it with unsafe or
corrupt checkpoints refused. A bad setting ends the program with one
``error: ...`` line (``SystemExit``), before any work starts.
"""
import argparse
import datetime
import difflib
import importlib.util
import inspect
import os.path as osp
import sys
from typing import Callable, Sequence

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log
from mmengine.registry import (HOOKS, MODEL_WRAPPERS, RUNNERS, DefaultScope,
                               init_default_scope)
from mmengine.runner import Runner
from torch.nn.parallel import DistributedDataParallel

from ..checkpoint import (CorruptCheckpointError, UnsafeCheckpointError,
                          refuse_unsafe_checkpoints)
from ..utils.frameworks import FRAMEWORKS, missing_framework_message

__all__ = [
    'LAUNCHERS', 'add_common_arguments', 'load_config', 'check_cfg_options',
    'check_hook_arguments', 'prepare_distributed', 'build_runner',
    'run_guarded'
]

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')
# Top-level config keys the Runner reads from its config besides its
# __init__ arguments (``cfg.compile=True`` compiles ``train_step``).
RUNNER_CONFIG_KEYS = ('activation_checkpointing', 'compile',
                      'efficient_conv_bn_eval', 'find_unused_parameters',
                      'model_wrapper_cfg', 'sync_bn')


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags that tools/train.py and tools/test.py share."""
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
    a new top-level key that the Runner takes (``randomness.seed=0``,
    ``compile=True``).
    """
    runner_keys = set(inspect.signature(
        Runner.__init__).parameters).union(RUNNER_CONFIG_KEYS)
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


def run_guarded(step: Callable[[], object], candidates: Sequence[str]):
    """Run ``step``; exit with a clear message if a checkpoint is refused."""
    try:
        with refuse_unsafe_checkpoints(*candidates):
            return step()
    except (UnsafeCheckpointError, CorruptCheckpointError) as error:
        sys.exit(f'error: {error}')

