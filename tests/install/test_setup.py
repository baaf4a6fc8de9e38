"""The set-up (tools/setup/): how mmcv's ops are chosen, and how a run on a
machine it cannot serve stops.

The set-up script runs here on a copy of its files in a temporary root, with
stand-in interpreters, so that the repository's own ``.venv`` is never
touched.
"""
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from repo_helpers import REPO, load_script

ops_mode = load_script('tools/setup/mmcv_ops_mode.py')


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _fake_toolkit(root: Path) -> Path:
    """A folder that looks like a CUDA toolkit: ``root/bin/nvcc``."""
    (root / 'bin').mkdir(parents=True)
    _executable(root / 'bin' / 'nvcc', '#!/bin/sh\necho "fake nvcc"\n')
    return root


@pytest.mark.parametrize('torch_cuda,toolkit,mode', [
    (None, None, 'cpu'),
    (None, '/usr/local/cuda', 'cpu'),
    ('12.8', None, 'cpu'),
    ('12.8', '/usr/local/cuda', 'cuda'),
])
def test_torch_build_and_toolkit_decide(torch_cuda, toolkit, mode):
    chosen, reason = ops_mode.decide('2.13.0', torch_cuda, toolkit)
    assert chosen == mode
    assert '2.13.0' in reason
    if toolkit and mode == 'cpu':
        assert f'toolkit at {toolkit} is not used' in reason


def test_toolkit_found_by_cuda_home_then_path(tmp_path):
    home = _fake_toolkit(tmp_path / 'home')
    on_path = _fake_toolkit(tmp_path / 'onpath')
    path = str(on_path / 'bin')
    find = ops_mode.find_cuda_toolkit
    assert find({'CUDA_HOME': str(home), 'PATH': path}) == str(home)
    assert find({'CUDA_PATH': str(home), 'PATH': path}) == str(home)
    assert find({'PATH': path}) == str(on_path)
    assert find({'PATH': str(tmp_path)}) is None
    # A CUDA_HOME without nvcc is no toolkit, even with nvcc on PATH (torch's
    # extension builder would use CUDA_HOME too).
    assert find({'CUDA_HOME': str(tmp_path), 'PATH': path}) is None


@pytest.mark.skipif(torch.version.cuda is not None,
                    reason='needs the CPU build of torch')
def test_fake_nvcc_on_path_with_cpu_torch_chooses_cpu_ops(tmp_path):
    toolkit = _fake_toolkit(tmp_path / 'cuda')
    env = {k: v for k, v in os.environ.items()
           if k not in ('CUDA_HOME', 'CUDA_PATH')}
    env['PATH'] = f'{toolkit / "bin"}{os.pathsep}{env["PATH"]}'
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools/setup/mmcv_ops_mode.py')],
        env=env, capture_output=True, text=True, check=True)
    assert proc.stdout == 'cpu\n'
    assert proc.stderr.strip().startswith('mmcv ops: cpu (torch ')
    assert f'toolkit at {toolkit} is not used' in proc.stderr


@pytest.fixture
def setup_root(tmp_path):
    """A copy of what tools/setup/setup_env.sh reads, in a fresh root."""
    root = tmp_path / 'repo'
    shutil.copytree(REPO / 'tools' / 'setup', root / 'tools' / 'setup',
                    ignore=shutil.ignore_patterns('__pycache__'))
    shutil.copytree(REPO / 'requirements', root / 'requirements')
    shutil.copyfile(REPO / 'setup.py', root / 'setup.py')
    return root


def _run_setup(root: Path, python: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=python)
    return subprocess.run(['bash', str(root / 'tools/setup/setup_env.sh')],
                          env=env, capture_output=True, text=True,
                          timeout=120)


def _error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines and lines[-1].startswith('setup_env.sh: error: '), lines
    return lines[-1]


def test_missing_python_is_one_line(setup_root):
    line = _error_line(_run_setup(setup_root, 'python-that-is-not-there'))
    assert "no 'python-that-is-not-there' on PATH" in line
    assert not (setup_root / '.venv').exists()


def test_unsupported_python_is_one_line(setup_root, tmp_path):
    old = _executable(tmp_path / 'python3.8', (
        '#!/bin/sh\n'
        'case "$*" in *python_version*) echo 3.8.18; exit 0;; esac\n'
        'exit 1\n'))
    line = _error_line(_run_setup(setup_root, str(old)))
    assert 'Python 3.8.18 is not supported' in line
    assert 'Python 3.9-3.12' in line


def test_run_after_a_broken_one_recreates_the_venv(setup_root, tmp_path):
    """A venv left without an interpreter is made anew, not reused; the
    stand-in Python makes venvs but has no registry, so pip fails next."""
    fake = _executable(tmp_path / 'python3', (
        '#!/bin/sh\n'
        'if [ "$1 $2" = "-m venv" ]; then\n'
        '  mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && exit 0\n'
        'fi\n'
        'if [ "$1 $2 $3" = "-m pip --version" ]; then exit 0; fi\n'
        'if [ "$1 $2 $3" = "-m pip install" ]; then\n'
        '  echo "ERROR: no registry"; exit 1\n'
        'fi\n'
        'exit 0\n'))
    (setup_root / '.venv' / 'lib').mkdir(parents=True)  # no bin/python
    proc = _run_setup(setup_root, str(fake))
    assert 'is incomplete; creating it again' in proc.stdout
    assert (setup_root / '.venv' / 'bin' / 'python').exists()
    line = _error_line(proc)
    assert 'installing pip, setuptools, wheel, ninja failed' in line
    assert str(setup_root / '.setup.log') in line
    assert 'ERROR: no registry' in (setup_root / '.setup.log').read_text()
