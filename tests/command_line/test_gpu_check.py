"""The GPU check (tools/gpu_check) end to end, in its CPU mode.

No GPU is lent to the machines the tests run on, so what is tested is
everything but the CUDA parts: ``wheels.py`` builds the wheel set for this
Python (the binary packages that the GPU machine already has come from its
``--base``), a fresh virtual environment with torch and those packages stands
in for the GPU machine's Python, and ``run.sh`` installs the set into it
offline and runs the checks, which must pass and write the report.

It takes a few minutes (the environment and one run of every family), so
the environment and the run are module-scoped.
"""
import json
import os
import subprocess
import sys
import venv

import pytest
import torch

from repo_helpers import REPO, load_script

TOOL = REPO / 'tools' / 'gpu_check'
FAMILIES = ('MAFormer-S', 'CrossFormer-T', 'CrossFormer++-S', 'Focal-T',
            'MixFormer-B0')


def _run(argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True,
                          text=True, **kwargs)


@pytest.fixture(scope='module')
def wheel_sets(tmp_path_factory):
    """``(set, base)``: the device set and the base wheels for this Python."""
    root = tmp_path_factory.mktemp('wheels')
    probe = _run([sys.executable, '-m', 'pip', 'download', '--quiet',
                  '--no-deps', '-d', root / 'probe', 'addict==2.4.0'],
                 timeout=300)
    if probe.returncode != 0:
        pytest.skip('the package index is unreachable, and the wheel set '
                    '(tools/gpu_check/wheels.py) is downloaded from it: '
                    + probe.stderr.strip()[-300:])
    version = f'{sys.version_info.major}.{sys.version_info.minor}'
    built = _run([sys.executable, TOOL / 'wheels.py', '--dest', root / 'gpu',
                  '--python-version', version, '--base', root / 'base'],
                 timeout=900)
    assert built.returncode == 0, built.stdout + built.stderr[-3000:]
    return root / 'gpu', root / 'base', built.stdout


@pytest.fixture(scope='module')
def stand_in(wheel_sets, tmp_path_factory):
    """Python of a fresh venv with what the GPU machine's Python has:
    torch (this environment's version) and the base wheels, offline."""
    _, base, _ = wheel_sets
    root = tmp_path_factory.mktemp('stand_in')
    venv.create(root / 'venv', with_pip=True)
    python = root / 'venv' / 'bin' / 'python'
    pip = [python, '-m', 'pip', 'install', '--disable-pip-version-check',
           '--quiet']
    base_wheels = sorted(base.glob('*.whl'))
    for argv in ([*pip, f'torch=={torch.__version__}'],
                 [*pip, '--no-index', '--no-deps', *base_wheels]):
        proc = _run(argv, timeout=1200)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    # The GPU machine's torchvision matches its CUDA torch; PyPI's for this
    # CPU torch needs the repair that the project's set-up installs.
    proc = _run([python, REPO / 'tools/setup/torchvision_cpu.py', 'install'],
                timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return python


@pytest.fixture(scope='module')
def cpu_run(wheel_sets, stand_in, tmp_path_factory):
    """The completed ``run.sh`` in CPU mode and its output folder."""
    out = tmp_path_factory.mktemp('out')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.update(PYTHON=str(stand_in), GPU_CHECK_WHEELS=str(wheel_sets[0]),
               OUT=str(out))
    proc = _run(['bash', TOOL / 'run.sh', '--cpu'], env=env, cwd='/',
                timeout=1500)
    return proc, out


def test_the_set_is_pure_python_and_fits_the_device_tool(wheel_sets):
    gpu, _, printed = wheel_sets
    manifest = json.loads((gpu / 'manifest.json').read_text())
    wheels = load_script('tools/gpu_check/wheels.py')
    pinned = {wheels.normalize(pin.split('==')[0])
              for pin in wheels.read_pins(TOOL / 'device.txt')}
    assert {w['name'] for w in manifest['wheels']} == pinned | {
        'mmvit_backbones'}
    # Pure wheels install on the GPU machine's Python 3.12 whatever built
    # them; nothing the machine has (torch, numpy, OpenCV) travels.
    assert all(w['file'].endswith('-none-any.whl')
               for w in manifest['wheels'])
    assert manifest['total_bytes'] < 8 * 2**20
    assert sorted(p.name for p in gpu.glob('*.whl')) == sorted(
        w['file'] for w in manifest['wheels'])
    assert 'of 64 MiB' in printed


def test_cpu_mode_passes_and_writes_the_report(cpu_run):
    proc, out = cpu_run
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    report = json.loads((out / 'gpu_check.json').read_text())
    assert report['mode'] == 'cpu' and report['result'] == 'PASS'
    assert report['wheels']['status'] == 'pass'
    # The packages came from the installed set, not from this checkout.
    for package, folder in report['wheels']['installed_from'].items():
        assert 'gpu_check_site' in folder, (package, folder)
        assert not folder.startswith(str(REPO)), (package, folder)
    checks = report['checks']
    assert set(checks) == set(FAMILIES) | {'Swin-T'}
    for name, found in checks.items():
        assert found['fp32']['status'] == 'pass'
        assert found['fp32']['worst'] <= 1e-4
        assert found['amp']['bf16']['status'] == 'pass', (name, found['amp'])
        assert found['amp']['bf16']['worst'] <= 0.02
        assert found['amp']['bf16']['finite']
        assert found['amp']['fp16']['status'] == 'skip'
        assert found['sdpa']['status'] == ('n/a' if name == 'Swin-T' else
                                           'skip')
    # MAFormer's attention has no learned bias: the CPU's fused kernel.
    ops = checks['MAFormer-S']['sdpa']['ops']['fp32']
    assert ops.get('aten::_scaled_dot_product_flash_attention_for_cpu')
    rows = report['speed']['fp32']
    assert set(rows) == set(checks)
    assert all(row['img_per_s'] > 0 for row in rows.values())
    assert rows['Swin-T']['img_per_s_vs_ref'] == 1.0
    # The CPU mode's compile budget is spent by the first family.
    compiled = report['compile']
    assert list(compiled) == list(FAMILIES)
    first = compiled['MAFormer-S']
    assert first['status'] == 'pass', first
    assert first['backend'] == 'eager' and first['graphs'] == 1
    assert max(first['arch']['depths']) == 2
    assert first['worst'] <= 1e-4 and len(first['sizes']) == 2
    assert all(compiled[name]['status'] == 'skip' for name in FAMILIES[1:])


def test_report_files(cpu_run):
    _, out = cpu_run
    assert sorted(p.name for p in out.iterdir()) == [
        'gpu_check.json', 'gpu_check.log', 'gpu_check.md']
    markdown = (out / 'gpu_check.md').read_text()
    assert 'Mode: **cpu**. Result: **PASS**' in markdown
    for name in FAMILIES:
        assert f'| {name} | ' in markdown
    assert 'Skipped: CUDA not used (CPU mode)' in markdown
    assert '## torch.compile (eager, dynamic shapes' in markdown
    assert '| MAFormer-S | 1 | ' in markdown
    assert 'Pending' not in markdown
    assert 'report written to' in (out / 'gpu_check.log').read_text()


def test_wheel_check_names_missing_and_altered_wheels(tmp_path):
    check = load_script('tools/gpu_check/check.py')
    (tmp_path / 'altered-1.0-py3-none-any.whl').write_bytes(b'changed')
    manifest = dict(python_version='3.12', source='test', total_bytes=0,
                    wheels=[
                        dict(file='gone-1.0-py3-none-any.whl', name='gone',
                             version='1.0', bytes=1, sha256='0' * 64),
                        dict(file='altered-1.0-py3-none-any.whl',
                             name='altered', version='1.0', bytes=7,
                             sha256='0' * 64),
                    ])
    (tmp_path / 'manifest.json').write_text(json.dumps(manifest))
    result = check.check_wheels(tmp_path, site=None)
    assert result['status'] == 'fail'
    assert result['problems'] == [
        'gone-1.0-py3-none-any.whl is missing',
        'altered-1.0-py3-none-any.whl differs from the manifest',
        'altered is not installed'
    ]


def test_run_sh_without_a_wheel_set_says_how_to_build_one(tmp_path):
    env = dict(os.environ, GPU_CHECK_WHEELS=str(tmp_path), OUT=str(tmp_path))
    proc = _run(['bash', TOOL / 'run.sh'], env=env, timeout=60)
    assert proc.returncode == 2
    assert 'tools/gpu_check/wheels.py' in proc.stderr


def test_a_cuda_report_renders(cpu_run):
    """The CUDA-only parts of the markdown, from the CPU run's report with
    what a GPU run adds (no GPU here to produce them)."""
    check = load_script('tools/gpu_check/check.py')
    report = json.loads((cpu_run[1] / 'gpu_check.json').read_text())
    report.update(mode='cuda', skipped=[])
    report['environment'].update(gpu='NVIDIA H200', cuda='13.0', cudnn=91000,
                                 tf32_matmul=False, tf32_cudnn=True)
    sdpa = report['checks']['Focal-T']['sdpa']
    sdpa['ops']['bf16'] = {
        'aten::_scaled_dot_product_efficient_attention': 30}
    sdpa['fused_only'] = {'fp32': None, 'bf16': 'No available kernel.'}
    report['speed']['fp32']['Focal-T'].update(peak_bytes=3 * 2**30,
                                             peak_vs_ref=1.5)
    report['settings']['compile_backend'] = 'inductor'
    report['compile']['Focal-T'] = dict(
        status='fail', backend='inductor', graphs=2, worst=2e-6,
        sizes={'512x768': dict(first_step_s=41.5, out_rel_l2=2e-6,
                               grad_rel_l2=1e-6),
               '480x704': dict(first_step_s=30.0, out_rel_l2=1e-6,
                               grad_rel_l2=1e-6)})
    markdown = check.to_markdown(report)
    assert markdown.startswith('# GPU check\n\nNVIDIA H200 | ')
    assert '(CUDA 13.0, cuDNN 91000)' in markdown
    assert ('- Focal-T bf16: `aten::_scaled_dot_product_efficient_attention`'
            ' x30; fused-only: fails (No available kernel.)') in markdown
    assert 'matmul False, cuDNN True' in markdown
    assert '| Focal-T | fp32 | ' in markdown and '| 3072 | 1.50 |' in markdown
    assert 'Skipped' not in markdown
    assert '## torch.compile (inductor, dynamic shapes' in markdown
    assert '| Focal-T | 2 | 41.5, 30.0 | 2.0e-06 | 1.0e-06 | fail |' in markdown
    assert '- Focal-T compile: fail' in markdown


def test_a_report_written_before_the_compile_checks_says_so(cpu_run):
    """The report is written once before the compile checks, so that a run
    stopped during them (the device tool's time limit) leaves the rest."""
    check = load_script('tools/gpu_check/check.py')
    report = json.loads((cpu_run[1] / 'gpu_check.json').read_text())
    report['compile'] = {}
    markdown = check.to_markdown(report)
    assert 'Pending: this report was written before the compile checks' in (
        markdown)
    assert 'Mode: **cpu**. Result: **PASS**' in markdown
