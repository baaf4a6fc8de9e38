"""Tests of tools/train.py, tools/test.py and weights-only checkpoint loading.

A toy model, dataset, metric and hook (written to a temporary module, so
nothing here depends on the backbones) train for a few iterations on CPU
through the real tools and an MMEngine Runner.
"""
import argparse
import os
import pickle
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.registry import MODEL_WRAPPERS
from mmengine.runner import load_checkpoint

from repo_helpers import load_script
from mmvit_backbones.checkpoint import (CorruptCheckpointError,
                                        UnsafeCheckpointError,
                                        checkpoint_keys,
                                        checkpoint_safe_globals,
                                        refuse_unsafe_checkpoints,
                                        register_checkpoint_safe_globals,
                                        unsafe_checkpoint_globals)
from mmvit_backbones.cli.runner import (check_cfg_options,
                                        check_hook_arguments,
                                        prepare_distributed)

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / 'tools'
MAX_ITERS = 8
CHECKPOINT_INTERVAL = 3
KILL_AFTER = 5

TOY_MODULE = '''
import os

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, HOOKS, METRICS, MODELS
from torch import nn
from torch.utils.data import Dataset


@MODELS.register_module(force=True)
class ToolsTestModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets, mode='tensor'):
        preds = self.linear(torch.stack(inputs))
        targets = torch.stack(targets)
        if mode == 'loss':
            return dict(loss=((preds - targets) ** 2).mean())
        return [dict(pred=p, target=t) for p, t in zip(preds, targets)]


@DATASETS.register_module(force=True)
class ToolsTestDataset(Dataset):
    metainfo = dict(classes=('low', 'high'))

    def __len__(self):
        return 8

    def __getitem__(self, index):
        inputs = torch.tensor([index / 8, 1 - index / 8])
        return dict(inputs=inputs, targets=inputs[:1] * 3 - 1)


@METRICS.register_module(force=True)
class ToolsTestMetric(BaseMetric):
    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        self.results.extend(
            float((s['pred'] - s['target']).abs()) for s in data_samples)

    def compute_metrics(self, results):
        # a numpy scalar, as mmseg's IoUMetric returns
        return dict(mae=np.float32(np.mean(results)))


@HOOKS.register_module(force=True)
class ToolsTestKillAtEpochHook(Hook):
    """kill -9 the own process when epoch ``kill_at`` is about to start,
    after the previous epoch's checkpoint was written."""
    priority = 'LOWEST'

    def __init__(self, kill_at):
        self.kill_at = kill_at

    def before_train_epoch(self, runner):
        if runner.epoch >= self.kill_at:
            os.kill(os.getpid(), 9)


@HOOKS.register_module(force=True)
class ToolsTestKillHook(Hook):
    """End the process abruptly, as a kill would, after some iterations."""
    priority = 'LOWEST'

    def __init__(self, kill_after):
        self.kill_after = kill_after

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 >= self.kill_after:
            os._exit(3)
'''

TOY_CONFIG = f'''
custom_imports = dict(imports=['tools_test_toy'], allow_failed_imports=False)
model = dict(type='ToolsTestModel')
train_dataloader = dict(
    dataset=dict(type='ToolsTestDataset'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_size=2, num_workers=0)
val_dataloader = dict(
    dataset=dict(type='ToolsTestDataset'),
    sampler=dict(type='DefaultSampler', shuffle=False),
    batch_size=4, num_workers=0)
test_dataloader = val_dataloader
val_evaluator = dict(type='ToolsTestMetric')
test_evaluator = val_evaluator
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters={MAX_ITERS},
    val_interval={CHECKPOINT_INTERVAL})
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[4])]
default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook', by_epoch=False,
        interval={CHECKPOINT_INTERVAL}, save_best='toy/mae', rule='less'),
    logger=dict(type='LoggerHook', interval=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
'''

EPOCHS = 4
EPOCH_CONFIG = f'''
_base_ = './toy.py'
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop',
                 max_epochs={EPOCHS}, val_interval=2)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=6),
    dict(type='MultiStepLR', by_epoch=True, milestones=[3], gamma=0.1)]
default_hooks = dict(checkpoint=dict(
    _delete_=True, type='CheckpointHook', by_epoch=True, interval=1))
log_processor = dict(by_epoch=True)
'''
EPOCH_KILLED_CONFIG = '''
_base_ = './toy_epoch.py'
custom_hooks = [dict(type='ToolsTestKillAtEpochHook', kill_at=2)]
'''

KILLED_CONFIG = f'''
_base_ = './toy.py'
custom_hooks = [dict(type='ToolsTestKillHook', kill_after={KILL_AFTER})]
'''


def load_tool(name):
    """Import tools/<name>.py as a module."""
    return load_script(f'tools/{name}.py')


@pytest.fixture(scope='module')
def train_tool():
    return load_tool('train')


@pytest.fixture(scope='module')
def test_tool():
    return load_tool('test')


@pytest.fixture(autouse=True)
def local_rank(monkeypatch):
    """The tools set LOCAL_RANK when it is missing; keep it test-local."""
    monkeypatch.setenv('LOCAL_RANK', '0')


@pytest.fixture(scope='module')
def toy_dir(tmp_path_factory):
    """A directory holding the toy module and the toy configs."""
    directory = tmp_path_factory.mktemp('toy')
    (directory / 'tools_test_toy.py').write_text(TOY_MODULE)
    (directory / 'toy.py').write_text(TOY_CONFIG)
    (directory / 'toy_killed.py').write_text(KILLED_CONFIG)
    (directory / 'toy_epoch.py').write_text(EPOCH_CONFIG)
    (directory / 'toy_epoch_killed.py').write_text(EPOCH_KILLED_CONFIG)
    sys.path.insert(0, str(directory))
    yield directory
    sys.path.remove(str(directory))


@pytest.fixture(scope='module')
def killed_run(toy_dir, tmp_path_factory):
    """Work dir of tools/train.py killed after KILL_AFTER iterations."""
    work_dir = tmp_path_factory.mktemp('killed')
    python_path = [str(toy_dir), str(REPO), os.environ.get('PYTHONPATH')]
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join(filter(None, python_path)))
    result = subprocess.run(
        [sys.executable, str(TOOLS / 'train.py'),
         str(toy_dir / 'toy_killed.py'), '--work-dir', str(work_dir)],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 3, result.stderr[-3000:]
    return work_dir


def run_tool(tool, *argv):
    """Run a tool's main() in this process with a fresh experiment name."""
    name = f'tools_test_{uuid.uuid4().hex}'
    tool.main([*argv, '--cfg-options', f'experiment_name={name}'])


def free_port():
    """A TCP port that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def write_checkpoint(path, **extra):
    """Save a small checkpoint holding ``extra`` next to a state dict."""
    torch.save(dict(state_dict={'weight': torch.ones(2)}, **extra), path)
    return str(path)


class Payload:
    """Pickles as a call of os.system, as a malicious checkpoint would."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class GetattrPayload:
    """Pickles as getattr on an allowed class, outside HistoryBuffer."""

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


def test_register_safe_globals_is_idempotent():
    register_checkpoint_safe_globals()
    registered = len(torch.serialization.get_safe_globals())
    register_checkpoint_safe_globals()
    assert len(torch.serialization.get_safe_globals()) == registered
    assert HistoryBuffer in torch.serialization.get_safe_globals()
    assert getattr not in checkpoint_safe_globals()


def test_runner_checkpoint_loads_with_torch_defaults(killed_run):
    path = killed_run / f'iter_{CHECKPOINT_INTERVAL}.pth'
    assert unsafe_checkpoint_globals(str(path)) == []
    checkpoint = torch.load(path)
    assert checkpoint['meta']['iter'] == CHECKPOINT_INTERVAL
    losses = checkpoint['message_hub']['log_scalars']['train/loss']
    assert isinstance(losses, HistoryBuffer)
    assert len(losses.data[0]) == CHECKPOINT_INTERVAL
    assert losses.mean() == pytest.approx(np.mean(losses.data[0]))
    best_score = checkpoint['message_hub']['runtime_info']['best_score']
    assert isinstance(best_score, np.float32)


def test_load_from_runner_checkpoint(killed_run, toy_dir, test_tool,
                                     tmp_path):
    path = killed_run / f'iter_{CHECKPOINT_INTERVAL}.pth'
    model = torch.nn.Module()
    model.linear = torch.nn.Linear(2, 1)
    load_checkpoint(model, str(path), logger='silent')
    expected = torch.load(path)['state_dict']['linear.weight']
    torch.testing.assert_close(model.linear.weight.data, expected)
    run_tool(test_tool, str(toy_dir / 'toy.py'), str(path),
             '--work-dir', str(tmp_path))
    assert list(tmp_path.glob('*/*.json')), 'test metrics were not dumped'


def test_killed_run_resumes_from_last_checkpoint(killed_run, toy_dir,
                                                 train_tool, tmp_path):
    assert not (killed_run / f'iter_{2 * CHECKPOINT_INTERVAL}.pth').exists()
    config = str(toy_dir / 'toy.py')
    run_tool(train_tool, config, '--work-dir', str(killed_run),
             '--resume')
    logs = sorted(killed_run.glob('*/*.log'))
    resumed_log = logs[-1].read_text()
    assert f'resumed epoch: 0, iter: {CHECKPOINT_INTERVAL}' in resumed_log
    assert f'Iter(train) [{CHECKPOINT_INTERVAL}/{MAX_ITERS}]' not in (
        resumed_log)
    resumed = torch.load(killed_run / f'iter_{MAX_ITERS}.pth')
    assert resumed['meta']['iter'] == MAX_ITERS

    run_tool(train_tool, config, '--work-dir', str(tmp_path))
    uninterrupted = torch.load(tmp_path / f'iter_{MAX_ITERS}.pth')
    for name, value in uninterrupted['state_dict'].items():
        torch.testing.assert_close(resumed['state_dict'][name], value)


def _train(toy_dir, config, work_dir, *extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(toy_dir), str(REPO)]))
    return subprocess.run(
        [sys.executable, str(TOOLS / 'train.py'), str(toy_dir / config),
         '--work-dir', str(work_dir), *extra],
        env=env, capture_output=True, text=True, timeout=300)


def test_epoch_run_killed_9_resumes_as_if_never_killed(toy_dir, tmp_path):
    """kill -9 (by PID) right after the epoch-2 checkpoint, --resume, and
    compare with an uninterrupted run: iterations, learning rate, the final
    checkpoint's step and its weights."""
    killed = _train(toy_dir, 'toy_epoch_killed.py', tmp_path / 'run')
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (tmp_path / 'run' / 'epoch_2.pth').is_file()
    assert not (tmp_path / 'run' / 'epoch_3.pth').exists()
    resumed = _train(toy_dir, 'toy_epoch.py', tmp_path / 'run', '--resume')
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    full = _train(toy_dir, 'toy_epoch.py', tmp_path / 'full')
    assert full.returncode == 0, full.stderr[-2000:]
    iters_per_epoch = 8 // 2
    last = torch.load(tmp_path / 'run' / f'epoch_{EPOCHS}.pth',
                      weights_only=False)
    expected = torch.load(tmp_path / 'full' / f'epoch_{EPOCHS}.pth',
                          weights_only=False)
    assert last['meta']['epoch'] == expected['meta']['epoch'] == EPOCHS
    assert last['meta']['iter'] == expected['meta']['iter'] == (
        EPOCHS * iters_per_epoch)
    assert [g['lr'] for g in last['optimizer']['param_groups']] == [
        g['lr'] for g in expected['optimizer']['param_groups']]
    for name, value in expected['state_dict'].items():
        torch.testing.assert_close(last['state_dict'][name], value)
    log = sorted((tmp_path / 'run').glob('*/*.log'))[-1].read_text()
    assert 'resumed epoch: 2, iter: 8' in log
    assert 'eta: -' not in log


def test_iteration_checkpoints_in_an_epoch_loop_are_refused(toy_dir,
                                                            tmp_path):
    proc = _train(toy_dir, 'toy_epoch.py', tmp_path / 'run', '--cfg-options',
                  'default_hooks.checkpoint.by_epoch=False')
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(
        'error: default_hooks.checkpoint.by_epoch=False writes checkpoints '
        'in the middle of epochs, which EpochBasedTrainLoop cannot resume')
    assert not (tmp_path / 'run').exists()


def test_unsafe_checkpoint_is_refused_with_clear_message(tmp_path):
    marker = tmp_path / 'executed'
    path = write_checkpoint(tmp_path / 'evil.pth', hook=Payload(marker))
    with pytest.raises(UnsafeCheckpointError) as error:
        with refuse_unsafe_checkpoints(path):
            load_checkpoint(torch.nn.Linear(2, 1), path)
    message = str(error.value)
    assert path in message
    assert f'{os.system.__module__}.system' in message
    assert 'plain state dict' in message
    assert not marker.exists()


def test_custom_class_in_checkpoint_is_refused(tmp_path):
    path = write_checkpoint(tmp_path / 'args.pth',
                            args=argparse.Namespace(lr=0.1))
    assert unsafe_checkpoint_globals(path) == ['argparse.Namespace']
    with pytest.raises(UnsafeCheckpointError, match='argparse.Namespace'):
        with refuse_unsafe_checkpoints(path):
            torch.load(path)


@pytest.mark.parametrize('converter', ['crossformer2mmvit', 'focal2mmvit'])
def test_weight_converters_refuse_unsafe_checkpoints(tmp_path, capsys,
                                                     converter):
    marker = tmp_path / 'executed'
    path = write_checkpoint(tmp_path / 'evil.pth', hook=Payload(marker))
    tool = load_script(f'tools/model_converters/{converter}.py')
    assert tool.main([path, str(tmp_path / 'out.pth')]) == 2
    message = capsys.readouterr().err
    assert f'{os.system.__module__}.system' in message
    assert '--trust-checkpoint' in message
    assert not marker.exists()
    assert not (tmp_path / 'out.pth').exists()


def test_getattr_outside_history_buffer_is_refused(tmp_path):
    path = write_checkpoint(tmp_path / 'getattr.pth', x=GetattrPayload())
    with pytest.raises(UnsafeCheckpointError, match=r'getattr\(.*tofile'):
        with refuse_unsafe_checkpoints(path):
            torch.load(path)


@pytest.mark.parametrize('zipfile', [True, False])
def test_checkpoint_keys_read_as_mmengine_pretrained_does(tmp_path, zipfile):
    path = tmp_path / 'weights.pth'
    weights = {'module.stem.weight': torch.ones(2), 'head.bias': torch.ones(1)}
    torch.save({'state_dict': weights, 'meta': {}}, path,
               _use_new_zipfile_serialization=zipfile)
    assert checkpoint_keys(str(path)) == ['stem.weight', 'head.bias']
    assert checkpoint_keys(str(path), prefix='module') == ['stem.weight']
    torch.save(weights, path, _use_new_zipfile_serialization=zipfile)
    assert checkpoint_keys(str(path), prefix='head.') == ['bias']


def test_other_unpickling_errors_pass_through():
    with pytest.raises(pickle.UnpicklingError, match='corrupt'):
        with refuse_unsafe_checkpoints():
            raise pickle.UnpicklingError('corrupt file')


def test_test_tool_exits_with_message_on_unsafe_checkpoint(
        toy_dir, test_tool, tmp_path):
    path = write_checkpoint(tmp_path / 'evil.pth',
                            hook=Payload(tmp_path / 'executed'))
    with pytest.raises(SystemExit) as exit_info:
        run_tool(test_tool, str(toy_dir / 'toy.py'), path,
                 '--work-dir', str(tmp_path))
    assert str(exit_info.value.code).startswith(
        f"error: Refusing to load checkpoint '{path}'")
    assert not (tmp_path / 'executed').exists()


def test_test_tool_refuses_a_checkpoint_of_another_model(
        toy_dir, test_tool, tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {'linear.weight': torch.ones(1, 2),
                               'head.weight': torch.ones(3)}}, path)
    with pytest.raises(SystemExit) as exit_info:
        run_tool(test_tool, str(toy_dir / 'toy.py'), str(path),
                 '--work-dir', str(tmp_path))
    assert str(exit_info.value.code) == (
        f"error: '{path}' does not fit the model of the config: 1 of its 2 "
        'parameters are not in it (linear.bias) and 1 of its keys are not '
        'in the model (head.weight). Was it trained with another config?')


@pytest.mark.parametrize(('flags', 'expected'), [
    ([], (False, None)),
    (['--resume'], (True, None)),
    (['--resume', 'ckpt.pth'], (True, 'ckpt.pth')),
])
def test_resume_argument(train_tool, flags, expected):
    args = train_tool.parse_args(['cfg.py', *flags])
    cfg = Config(dict(resume=False, load_from=None))
    train_tool.apply_resume(cfg, args.resume)
    assert (cfg.resume, cfg.load_from) == expected


@pytest.mark.parametrize(('key', 'message'), [
    ('optim_wraper.optimizer.lr',
     "the config has no key 'optim_wraper'; did you mean optim_wrapper?"),
    ('optim_wrapper.optimiser.lr',
     "optim_wrapper has no key 'optimiser'; did you mean "
     'optim_wrapper.optimizer?'),
    ('param_scheduler.3.gamma', 'param_scheduler has 1 items, no index 3'),
    ('train_cfg.max_iters.x', 'train_cfg.max_iters is int, not a dict'),
])
def test_cfg_options_with_a_path_not_in_the_config_are_refused(
        toy_dir, key, message):
    cfg = Config.fromfile(toy_dir / 'toy.py')
    with pytest.raises(SystemExit, match=re.escape(message)):
        check_cfg_options(cfg, {key: 0.1})


def test_cfg_options_may_add_leaves_and_runner_keys():
    cfg = Config(dict(model=dict(backbone=dict(type='MAFormer')),
                      train_cfg=dict(max_iters=4)))
    check_cfg_options(cfg, {
        'model.backbone.with_cp': True,
        'train_cfg.val_interval': 2,
        'randomness.seed': 0,
        'work_dir': 'x',
        'compile': True,
        'compile.backend': 'aot_eager',
    })


def test_hook_argument_the_hook_does_not_take_is_refused():
    cfg = Config(dict(default_hooks=dict(
        checkpoint=dict(type='CheckpointHook', intervall=5))))
    with pytest.raises(SystemExit, match=re.escape(
            "default_hooks.checkpoint: CheckpointHook takes no argument "
            "'intervall'; did you mean interval?")):
        check_hook_arguments(cfg)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=5)
    check_hook_arguments(cfg)


def test_train_tool_refuses_a_bad_option_at_start(toy_dir):
    proc = subprocess.run(
        [sys.executable, str(TOOLS / 'train.py'), str(toy_dir / 'toy.py'),
         '--work-dir', str(toy_dir / 'bad_option'), '--cfg-options',
         'optim_wraper.optimizer.lr=0.1'],
        capture_output=True, text=True, timeout=300, cwd=toy_dir,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(toy_dir),
                                                          str(REPO)])))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        'error: --cfg-options optim_wraper.optimizer.lr: the config has no '
        "key 'optim_wraper'; did you mean optim_wrapper?")
    assert not (toy_dir / 'bad_option').exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason='needs a CPU machine')
def test_amp_without_cuda_is_a_clear_error(train_tool):
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    with pytest.raises(SystemExit, match='--amp needs a CUDA'):
        train_tool.enable_amp(cfg)


def test_auto_scale_lr(train_tool):
    with pytest.raises(SystemExit, match='base_batch_size'):
        train_tool.enable_auto_scale_lr(Config(dict()))
    cfg = Config(dict(auto_scale_lr=dict(enable=False, base_batch_size=16)))
    train_tool.enable_auto_scale_lr(cfg)
    assert cfg.auto_scale_lr.enable


def test_cpu_distributed_uses_gloo_without_device_ids(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(free_port()))
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    sync_bn = dict(type='SyncBN', requires_grad=True)
    cfg = Config(
        dict(
            launcher='pytorch',
            env_cfg=dict(dist_cfg=dict(backend='nccl')),
            model=dict(
                decode_head=dict(norm_cfg=sync_bn),
                auxiliary_head=[dict(norm_cfg=sync_bn)],
                backbone=dict(norm_cfg=dict(type='LN')))))
    prepare_distributed(cfg)
    try:
        assert torch.distributed.get_backend() == 'gloo'
        assert cfg.env_cfg.dist_cfg.backend == 'gloo'
        # torch's SyncBatchNorm raises on CPU tensors in a distributed run.
        assert cfg.model.decode_head.norm_cfg.type == 'BN'
        assert cfg.model.auxiliary_head[0].norm_cfg.type == 'BN'
        assert cfg.model.backbone.norm_cfg.type == 'LN'
        wrapper = MODEL_WRAPPERS.build(
            cfg.model_wrapper_cfg,
            default_args=dict(module=torch.nn.Linear(2, 1), device_ids=[0]))
        assert wrapper.device_ids is None
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.parametrize(('scope', 'hook_type'),
                         [('mmdet', 'DetVisualizationHook'),
                          ('mmseg', 'SegVisualizationHook')])
def test_show_dir_follows_default_scope(test_tool, scope, hook_type):
    cfg = Config(dict(default_scope=scope, visualizer=dict(type='V')))
    args = test_tool.parse_args(['cfg.py', 'ckpt.pth', '--show-dir', 'vis'])
    test_tool.enable_visualization(cfg, args)
    hook = cfg.default_hooks.visualization
    assert (hook.type, hook.draw) == (hook_type, True)
    if scope == 'mmdet':
        assert hook.test_out_dir == 'vis'
    else:
        assert cfg.visualizer.save_dir == 'vis'


def test_options_need_a_known_scope(test_tool):
    cfg = Config(dict(default_scope='mmengine'))
    with pytest.raises(SystemExit, match='default_scope mmdet or mmseg'):
        test_tool.enable_tta(cfg)


def test_detection_tta_defaults_to_flips(test_tool):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='PackDetInputs', meta_keys=('img_id', 'scale_factor'))
    ]
    cfg = Config(
        dict(default_scope='mmdet', model=dict(type='MaskRCNN'),
             test_dataloader=dict(dataset=dict(type='D', pipeline=pipeline))))
    test_tool.enable_tta(cfg)
    assert cfg.model.type == 'DetTTAModel'
    assert cfg.model.module.type == 'MaskRCNN'
    aug = cfg.test_dataloader.dataset.pipeline[-1]
    assert aug.type == 'TestTimeAug'
    assert aug.transforms[1][0].meta_keys == ('img_id', 'scale_factor',
                                              'flip', 'flip_direction')


def test_segmentation_tta_needs_config_entries(test_tool):
    cfg = Config(
        dict(default_scope='mmseg', model=dict(type='EncoderDecoder'),
             test_dataloader=dict(dataset=dict(type='D', pipeline=[]))))
    with pytest.raises(SystemExit, match='tta_model and tta_pipeline'):
        test_tool.enable_tta(cfg)


def test_out_option_checks(test_tool):
    with pytest.raises(SystemExit, match='.pkl'):
        test_tool.check_detection_out_file('predictions.json')
    cfg = Config(dict(test_evaluator=dict(type='IoUMetric')))
    test_tool.set_segmentation_output_dir(cfg, 'masks')
    assert cfg.test_evaluator.output_dir == 'masks'


@pytest.mark.parametrize(('script', 'args', 'expected'), [
    ('slurm_train.sh', ['dev', 'job', 'cfg.py', 'work', '--amp'],
     ['train.py', 'cfg.py', '--work-dir=work', '--amp', '--launcher=slurm']),
    ('slurm_test.sh', ['dev', 'job', 'cfg.py', 'ckpt.pth', '--tta'],
     ['test.py', 'cfg.py', 'ckpt.pth', '--tta', '--launcher=slurm']),
])
def test_slurm_scripts_run_the_tool_in_one_task_per_gpu(tmp_path, script,
                                                        args, expected):
    """A stand-in ``srun`` records the command the scripts build."""
    record = tmp_path / 'srun_args'
    srun = tmp_path / 'srun'
    srun.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    srun.chmod(0o755)
    env = dict(os.environ, PATH=f'{tmp_path}{os.pathsep}{os.environ["PATH"]}',
               GPUS='16', SRUN_ARGS='--quotatype=auto --exclusive')
    proc = subprocess.run(['bash', str(TOOLS / script), *args], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    words = record.read_text().splitlines()
    assert words[:8] == [
        '--partition=dev', '--job-name=job', '--gres=gpu:8', '--ntasks=16',
        '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1',
        '--quotatype=auto']
    assert words[8] == '--exclusive'
    assert words[10] == '-u'  # words[9] is the Python
    assert Path(words[11]).name == expected[0]
    assert words[12:] == expected[1:]


def _damaged_files(tmp_path):
    """name -> path of files that are no checkpoint."""
    good = write_checkpoint(tmp_path / 'good.pth')
    data = Path(good).read_bytes()
    files = {
        'empty': b'',
        'random': np.random.default_rng(0).bytes(4096),
        'truncated zip': data[:len(data) // 2],
        'truncated legacy': b'',
    }
    legacy = tmp_path / 'legacy.pth'
    torch.save({'w': torch.ones(3)}, legacy,
               _use_new_zipfile_serialization=False)
    files['truncated legacy'] = legacy.read_bytes()[:40]
    paths = {}
    for name, content in files.items():
        path = tmp_path / (name.replace(' ', '_') + '.pth')
        path.write_bytes(content)
        paths[name] = str(path)
    return paths


@pytest.mark.parametrize('name', ['empty', 'random', 'truncated zip',
                                  'truncated legacy'])
def test_corrupt_checkpoint_is_not_called_unsafe(tmp_path, name):
    path = _damaged_files(tmp_path)[name]
    for trust in (False, True):
        with pytest.raises(CorruptCheckpointError) as error:
            with refuse_unsafe_checkpoints(path):
                torch.load(path, weights_only=not trust)
        message = str(error.value)
        assert path in message and 'cannot be read' in message
        assert 'not a safety refusal' in message
        assert 'arbitrary code' not in message
    with pytest.raises(CorruptCheckpointError, match=re.escape(path)):
        checkpoint_keys(path)


def test_legacy_format_and_getattr_refusals_name_the_file(tmp_path):
    legacy = tmp_path / 'evil_legacy.pth'
    torch.save({'x': Payload(tmp_path / 'executed')}, legacy,
               _use_new_zipfile_serialization=False)
    getattr_file = write_checkpoint(tmp_path / 'getattr.pth',
                                    x=GetattrPayload())
    for path in (str(legacy), getattr_file):
        with pytest.raises(UnsafeCheckpointError) as error:
            with refuse_unsafe_checkpoints(path):
                torch.load(path, weights_only=True)
        assert repr(path) in str(error.value)
    assert not (tmp_path / 'executed').exists()


@pytest.mark.parametrize('converter', ['crossformer2mmvit', 'focal2mmvit'])
def test_torch_converters_call_a_damaged_file_damaged(tmp_path, capsys,
                                                      converter):
    tool = load_script(f'tools/model_converters/{converter}.py')
    for name, path in _damaged_files(tmp_path).items():
        assert tool.main([path, str(tmp_path / 'out.pth')]) == 2, name
        message = capsys.readouterr().err
        assert path in message and 'cannot be read' in message, name
        assert 'trust-checkpoint' not in message
    assert not (tmp_path / 'out.pth').exists()


def test_test_tool_calls_a_damaged_checkpoint_damaged(toy_dir, tmp_path):
    path = _damaged_files(tmp_path)['truncated zip']
    proc = subprocess.run(
        [sys.executable, str(TOOLS / 'test.py'), str(toy_dir / 'toy.py'),
         path, '--work-dir', str(tmp_path / 'work')],
        capture_output=True, text=True, timeout=300, cwd=toy_dir,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(toy_dir),
                                                          str(REPO)])))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f'error: checkpoint {path!r} cannot be read: ')
    assert 'Traceback' not in proc.stderr


@pytest.mark.parametrize('compile_option, added', [
    (None, False), (False, False), (True, True),
    (dict(backend='aot_eager'), True)])
def test_compile_option_runs_the_optimizer_update_eagerly(
        train_tool, compile_option, added):
    cfg = Config(dict(custom_hooks=[dict(type='EMAHook')]))
    if compile_option is not None:
        cfg.compile = compile_option
    train_tool.keep_optimizer_step_eager(cfg)
    train_tool.keep_optimizer_step_eager(cfg)
    types = [hook['type'] for hook in cfg.custom_hooks]
    assert types == ['EMAHook'] + ['EagerOptimizerStepHook'] * added


def test_compiled_training_keeps_the_optimizer_step_out_of_the_graph(
        toy_dir, train_tool, tmp_path):
    """compile=... on the command line: the Runner compiles train_step, the
    hook leaves the optim wrapper's step to eager mode, the run ends with
    its final checkpoint and matches an uncompiled run."""
    from mmengine.runner import Runner
    seen = {}
    original = Runner.train

    def train(runner):
        result = original(runner)
        seen['step'] = runner.optim_wrapper.step
        return result

    config = str(toy_dir / 'toy.py')
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Runner, 'train', train)
        train_tool.main([
            config, '--work-dir', str(tmp_path / 'compiled'),
            '--cfg-options', 'compile.backend=eager',
            f'experiment_name=tools_test_{uuid.uuid4().hex}'])
    assert getattr(seen['step'], '_torchdynamo_disable', False)
    torch._dynamo.reset()
    run_tool(train_tool, config, '--work-dir', str(tmp_path / 'eager'))
    compiled = torch.load(tmp_path / 'compiled' / f'iter_{MAX_ITERS}.pth')
    eager = torch.load(tmp_path / 'eager' / f'iter_{MAX_ITERS}.pth')
    for name, value in eager['state_dict'].items():
        torch.testing.assert_close(compiled['state_dict'][name], value)
