"""Build the wheel set that the GPU check installs where no package index is.

Example (the set for the GPU machine, Python 3.12, into .whl/gpu)::

    python tools/gpu_check/wheels.py

The set is this package as a wheel plus the pure-Python wheels pinned in
``tools/gpu_check/device.txt`` (mmengine, mmcv-lite, mmpretrain and what
they import that the GPU machine lacks). ``manifest.json`` beside them lists
every wheel with its size and SHA-256; ``check.py`` verifies the installed
set against it. The set must travel with the working tree, whose limit is
64 MiB in all: the script prints both sizes and fails above the limit.

``--base DIR`` also downloads, for ``--python-version``, the binary packages
that the GPU machine's Python already has (``base.txt``: numpy, OpenCV,
torchvision, ...), so that a bare Python with torch can stand in for it (the
CPU test, ``tests/command_line/test_gpu_check.py``). Run it with an interpreter that has
setuptools and wheel (the project's ``.venv``); downloads need the package
index.
"""
import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEVICE_PINS = HERE / 'device.txt'
BASE_PINS = HERE / 'base.txt'
DEFAULT_DEST = ROOT / '.whl' / 'gpu'
MANIFEST = 'manifest.json'
# The device tool's limit on what travels: the working tree plus carried paths.
TRAVEL_LIMIT = 64 * 2**20
# Wheel platform tags pip must accept for the GPU machine (x86-64, glibc).
PLATFORMS = ('manylinux_2_28_x86_64', 'manylinux_2_27_x86_64',
             'manylinux_2_17_x86_64', 'manylinux2014_x86_64',
             'manylinux1_x86_64')
PACKAGE = 'mmvit_backbones'


class WheelSetError(RuntimeError):
    """A wheel could not be fetched or built, or the set is too large."""


def read_pins(path: Path) -> List[str]:
    """``name==version`` lines of a pins file, comments dropped."""
    pins = []
    for line in path.read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if line:
            if '==' not in line:
                raise WheelSetError(f'{path}: {line!r} is not NAME==VERSION')
            pins.append(line)
    return pins


def normalize(name: str) -> str:
    """A distribution name as wheel file names spell it (PEP 427/503)."""
    return re.sub(r'[-_.]+', '_', name).lower()


def wheel_name_version(path: Path) -> tuple:
    """``(normalized name, version)`` from a wheel's file name."""
    name, version = path.name.split('-')[:2]
    return normalize(name), version


def _run(argv: List[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise WheelSetError(f'{what} failed:\n{proc.stdout[-2000:]}'
                            f'{proc.stderr[-3000:]}')


def download(pins: List[str], dest: Path, python_version: str) -> None:
    """Fetch the pinned wheels (no dependencies, binary only) into ``dest``
    for CPython ``python_version`` on x86-64 Linux; wheels already there are
    kept, wheels of other versions of a pinned name are removed."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {normalize(p.split('==')[0]): p.split('==')[1] for p in pins}
    for wheel in dest.glob('*.whl'):
        name, version = wheel_name_version(wheel)
        if name in wanted and version != wanted[name]:
            wheel.unlink()
    platforms = [arg for tag in PLATFORMS for arg in ('--platform', tag)]
    _run([
        sys.executable, '-m', 'pip', 'download', '--disable-pip-version-check',
        '--quiet', '--no-deps', '--only-binary=:all:', '--implementation',
        'cp', '--python-version', python_version, *platforms, '-d',
        str(dest), *pins
    ], f'pip download of {", ".join(pins)}')
    missing = set(wanted) - {wheel_name_version(w)[0]
                             for w in dest.glob('*.whl')}
    if missing:
        raise WheelSetError(
            f'pip download left no wheel for {sorted(missing)}')


def tracked_files(root: Path) -> List[Path]:
    """Files of the working tree that travel: tracked and untracked files
    that git does not ignore."""
    listed = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others',
         '--exclude-standard'],
        cwd=root, capture_output=True, text=True, check=True).stdout
    return [root / name for name in filter(None, listed.split('\0'))
            if (root / name).is_file()]


def build_package(dest: Path) -> Path:
    """This package as a wheel in ``dest``, built from a copy of the working
    tree's files (the build writes ``build/`` and ``.mim`` copies, which must
    not land in the checkout)."""
    for module in ('setuptools', 'wheel'):
        try:
            __import__(module)
        except ImportError as err:
            raise WheelSetError(
                f'{sys.executable} has no {module}: run this script with the '
                f'project\'s .venv/bin/python') from err
    for old in dest.glob(f'{PACKAGE}-*.whl'):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / 'src'
        for path in tracked_files(ROOT):
            target = src / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        _run([
            sys.executable, '-m', 'pip', 'wheel',
            '--disable-pip-version-check', '--quiet', '--no-deps',
            '--no-build-isolation', '-w', str(dest), str(src)
        ], f'building the {PACKAGE} wheel')
    built = sorted(dest.glob(f'{PACKAGE}-*.whl'))
    if len(built) != 1:
        raise WheelSetError(f'expected one {PACKAGE} wheel, found {built}')
    return built[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for block in iter(lambda: stream.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _source_commit() -> str:
    """HEAD of the checkout, with ``+dirty`` when files differ from it."""
    head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(['git', 'status', '--porcelain'], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return head + ('+dirty' if dirty else '') if head else 'unknown'


def write_manifest(dest: Path, python_version: str) -> dict:
    """Describe every wheel of ``dest`` in ``dest/manifest.json``."""
    wheels = []
    for path in sorted(dest.glob('*.whl')):
        name, version = wheel_name_version(path)
        wheels.append(dict(file=path.name, name=name, version=version,
                           bytes=path.stat().st_size, sha256=_sha256(path)))
    manifest = dict(
        python_version=python_version,
        built=datetime.now(timezone.utc).isoformat(timespec='seconds'),
        source=_source_commit(),
        total_bytes=sum(w['bytes'] for w in wheels),
        wheels=wheels)
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + '\n')
    return manifest


def build_set(dest: Path, python_version: str) -> dict:
    """Download the pinned wheels, build the package's, write the manifest.

    Wheels in ``dest`` that belong to no pin (older builds, removed pins) are
    deleted: pip refuses two versions of one package in one install.
    """
    pins = read_pins(DEVICE_PINS)
    download(pins, dest, python_version)
    build_package(dest)
    keep = {normalize(p.split('==')[0]) for p in pins} | {PACKAGE}
    for wheel in dest.glob('*.whl'):
        if wheel_name_version(wheel)[0] not in keep:
            wheel.unlink()
    return write_manifest(dest, python_version)


def travel_bytes(dest: Path) -> Dict[str, int]:
    """Bytes of the working tree that travels and of the wheel set."""
    tree = sum(path.stat().st_size for path in tracked_files(ROOT))
    try:
        dest.resolve().relative_to(ROOT)
        inside = True
    except ValueError:
        inside = False
    wheels = sum(p.stat().st_size for p in dest.iterdir() if p.is_file())
    # An unignored folder inside the checkout is already part of the tree.
    ignored = inside and subprocess.run(
        ['git', 'check-ignore', '-q', str(dest)], cwd=ROOT).returncode == 0
    return dict(tree=tree, wheels=wheels,
                total=tree + (wheels if ignored or not inside else 0))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dest', type=Path, default=DEFAULT_DEST,
                        help='folder of the set (default .whl/gpu)')
    parser.add_argument('--python-version', default='3.12',
                        help='CPython version the binary wheels are for '
                        '(default 3.12, the GPU machine\'s)')
    parser.add_argument('--base', type=Path, metavar='DIR',
                        help='also download base.txt (what the GPU machine '
                        'already has) into DIR, for a bare Python')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        manifest = build_set(args.dest, args.python_version)
        if args.base:
            download(read_pins(BASE_PINS), args.base, args.python_version)
    except WheelSetError as err:
        print(f'wheels.py: error: {err}', file=sys.stderr)
        return 1
    sizes = travel_bytes(args.dest)
    mib = 2**20
    print(f'{len(manifest["wheels"])} wheels, '
          f'{manifest["total_bytes"] / mib:.1f} MiB in {args.dest}')
    print(f'travels: working tree {sizes["tree"] / mib:.1f} MiB + wheel set '
          f'{sizes["wheels"] / mib:.1f} MiB = {sizes["total"] / mib:.1f} MiB '
          f'of {TRAVEL_LIMIT // mib} MiB')
    if sizes['total'] > TRAVEL_LIMIT:
        print('wheels.py: error: the working tree and the wheel set exceed '
              'the device tool\'s limit', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
