"""The package installed as a user installs it into a plain environment.

A fresh virtual environment gets only torch, mmengine and mmcv (the mmcv
wheel that tools/setup/setup_env.sh built and kept in .whl/, the same torch
as this environment's), then ``pip install`` of a copy of the repository
(a wheel build, not editable). There the package must import, every variant
of every family must build and run, no framework may have been pulled in,
and code that needs a framework must say in one line which extra installs it.
The wheel must carry what ``mim`` reads (``.mim``).

It takes a few minutes (creating the environment), so it is one module-scoped
environment for all its tests.
"""
import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from repo_helpers import REPO

MMCV_WHEELS = sorted((REPO / '.whl').glob('mmcv-*.whl'))

pytestmark = pytest.mark.skipif(
    not MMCV_WHEELS,
    reason='no mmcv wheel in .whl/ (tools/setup/setup_env.sh keeps the one '
    'it builds there)')


def _pip(python: Path, *args: str) -> None:
    proc = subprocess.run(
        [str(python), '-m', 'pip', 'install', '--disable-pip-version-check',
         '--quiet', '-c', str(REPO / 'requirements/tested.txt'), *args],
        capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


def _copy_repository(target: Path) -> None:
    """The tracked files (plus new ones), as a user's clone has them."""
    listed = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
        cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in filter(None, listed.split('\0')):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / name)


@pytest.fixture(scope='module')
def plain_env(tmp_path_factory):
    """Python of a venv with torch, mmengine, mmcv and mmvit_backbones."""
    import mmcv
    import mmengine
    import torch
    root = tmp_path_factory.mktemp('plain')
    venv.create(root / 'venv', with_pip=True)
    python = root / 'venv' / 'bin' / 'python'
    _pip(python, f'torch=={torch.__version__}',
         f'mmengine=={mmengine.__version__}',
         *(str(w) for w in MMCV_WHEELS if mmcv.__version__ in w.name))
    _copy_repository(root / 'src')
    _pip(python, 'setuptools>=70,<80.9', 'wheel')
    _pip(python, '--no-build-isolation', str(root / 'src'))
    return python


def _python(python: Path, code: str, cwd: Path = None):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    return subprocess.run([str(python), '-c', code], capture_output=True,
                          text=True, timeout=900, cwd=cwd or Path('/'),
                          env=env)


def test_only_the_core_is_installed(plain_env):
    proc = _python(plain_env, (
        'import importlib.util, json\n'
        'print(json.dumps({n: importlib.util.find_spec(n) is not None for n '
        'in ("mmvit_backbones", "mmdet", "mmseg", "mmpretrain", '
        '"torchvision")}))\n'))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        'mmvit_backbones': True, 'mmdet': False, 'mmseg': False,
        'mmpretrain': False, 'torchvision': False}


def test_every_variant_builds_and_runs(plain_env):
    code = '''
import json, torch
from mmengine.registry import MODELS
import mmvit_backbones
ran = {}
for name in ('MAFormer', 'CrossFormer', 'FocalTransformer', 'MixFormer'):
    cls = MODELS.get(name)
    seen = set()
    for arch, settings in cls.arch_zoo.items():
        if id(settings) in seen:
            continue
        seen.add(id(settings))
        torch.manual_seed(0)
        model = MODELS.build(dict(type=name, arch=arch)).eval()
        with torch.no_grad():
            outs = model(torch.randn(1, 3, 64, 96))
        assert len(outs) == 4 and all(torch.isfinite(o).all() for o in outs)
        ran[f'{name}/{arch}'] = [list(o.shape) for o in outs]
print(json.dumps(ran))
'''
    proc = _python(plain_env, code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ran = json.loads(proc.stdout)
    families = {key.split('/')[0] for key in ran}
    assert families == {'MAFormer', 'CrossFormer', 'FocalTransformer',
                        'MixFormer'}
    # Every paper variant: MAFormer S/B/L, CrossFormer T/S/B/L and ++S/B/L/H,
    # Focal T/S/B/L and conv-stem T/S/B, MixFormer B0-B6.
    assert len(ran) >= 3 + 8 + 7 + 7, sorted(ran)
    for shapes in ran.values():
        assert [s[2:] for s in shapes] == [[16, 24], [8, 12], [4, 6], [2, 3]]


def test_missing_framework_is_one_line_naming_the_extra(plain_env):
    proc = _python(plain_env, 'import mmvit_backbones.models.classification')
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (
        'mmvit_backbones.utils.frameworks.MissingFrameworkError: '
        'mmvit_backbones.models.classification needs mmpretrain, which is '
        "not installed: pip install 'mmvit_backbones[pretrain]' (or '[all]')")


def test_train_tool_names_the_extra_for_a_detection_config(plain_env):
    mim = Path(_python(plain_env, (
        'import mmvit_backbones, os; '
        'print(os.path.dirname(mmvit_backbones.__file__))')).stdout.strip())
    config = mim / '.mim/configs/maformer/mask-rcnn_maformer-s_1x_coco.py'
    proc = subprocess.run(
        [str(plain_env), str(mim / '.mim/tools/train.py'), str(config)],
        capture_output=True, text=True, timeout=300, cwd='/')
    assert proc.returncode == 1
    # Above it, at most mmengine's own warnings (pkg_resources deprecation).
    assert proc.stderr.strip().splitlines()[-1] == (
        f'error: {config} needs mmdet, which is not installed: '
        "pip install 'mmvit_backbones[det]' (or '[all]')")
    assert 'Traceback' not in proc.stderr


def test_the_wheel_carries_what_mim_reads(plain_env):
    proc = _python(plain_env, (
        'import mmvit_backbones, os\n'
        'print(os.path.dirname(mmvit_backbones.__file__))\n'))
    mim = Path(proc.stdout.strip()) / '.mim'
    assert (mim / 'model-index.yml').is_file()
    assert (mim / 'tools' / 'train.py').is_file()
    assert (mim / 'configs' / 'maformer' / 'metafile.yml').is_file()
    configs = sorted(p.relative_to(mim) for p in mim.glob('configs/**/*.py'))
    ours = sorted(p.relative_to(REPO) for p in REPO.glob('configs/**/*.py'))
    assert configs == ours


def test_mim_searches_and_trains_the_installed_package(plain_env, tmp_path):
    """Last in this module: it adds mmdet and openmim to the environment.

    openmim is installed without its ``opendatalab`` dependency, which would
    downgrade setuptools and is only needed for mim's dataset downloads.
    """
    _pip(plain_env, 'mmdet', 'pycocotools')
    _pip(plain_env, '--no-deps', 'openmim')
    _pip(plain_env, 'click', 'colorama', 'model-index', 'pandas', 'requests',
         'rich', 'tabulate')
    env = dict(os.environ, PATH=f'{plain_env.parent}{os.pathsep}'
               f'{os.environ["PATH"]}')
    env.pop('PYTHONPATH', None)

    def mim(*args):
        return subprocess.run(['mim', *args], capture_output=True,
                              text=True, timeout=900, cwd=tmp_path, env=env)

    search = mim('search', 'mmvit_backbones')
    assert search.returncode == 0, search.stderr[-3000:]
    for config_id in ('mask-rcnn_maformer-s_1x_coco',
                      'upernet_mixformer-b4_8xb2-160k_ade20k-512x512',
                      'retinanet_focal-t_1x_coco'):
        assert f'config id: {config_id}' in search.stdout

    mim_dir = Path(_python(plain_env, (
        'import mmvit_backbones, os; '
        'print(os.path.dirname(mmvit_backbones.__file__))')).stdout.strip())
    made = subprocess.run(
        [str(plain_env), str(mim_dir / '.mim/tools/misc/make_mini_coco.py'),
         '--out', 'data/mini_coco', '--num-train', '8', '--num-val', '4'],
        capture_output=True, text=True, cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    train = mim('train', 'mmvit_backbones',
                'configs/maformer/mask-rcnn_maformer-s_1x_mini-coco.py',
                '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                'train_cfg.max_epochs=1')
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-3000:]
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
