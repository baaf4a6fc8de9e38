import os
import shutil
import sys
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
# What OpenMMLab's ``mim`` reads from an installed package's ``.mim`` folder
# (``mim search``, ``mim train``), as mmdet and mmseg ship it.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_version():
    namespace = {}
    exec((ROOT / 'mmvit_backbones' / 'version.py').read_text(), namespace)
    return namespace['__version__']


def read_requirements(name):
    lines = (ROOT / 'requirements' / f'{name}.txt').read_text().splitlines()
    return [line for line in lines if line and not line.startswith('#')]


def add_mim_extension():
    """Fill ``mmvit_backbones/.mim``: links into the repository for an
    editable install, copies for a wheel or an sdist."""
    editable = {'develop', 'editable_wheel'} & set(sys.argv)
    if not editable and not {'bdist_wheel', 'sdist', 'build'} & set(sys.argv):
        return
    mim = ROOT / 'mmvit_backbones' / '.mim'
    mim.mkdir(exist_ok=True)
    for name in MIM_FILES:
        source, target = ROOT / name, mim / name
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        if editable:
            os.symlink(os.path.relpath(source, mim), target)
        elif source.is_dir():
            shutil.copytree(source, target,
                            ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copyfile(source, target)


add_mim_extension()
frameworks = {'det': read_requirements('det'),
              'seg': read_requirements('seg'),
              'pretrain': read_requirements('pretrain')}
setup(
    name='mmvit_backbones',
    version=read_version(),
    description='MAFormer, CrossFormer(++), Focal Transformer and MixFormer '
    'backbones for MMDetection, MMSegmentation and MMPretrain',
    long_description=(ROOT / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=('mmvit_backbones', 'mmvit_backbones.*')),
    include_package_data=True,
    package_data={'mmvit_backbones': ['.mim/**/*', '.mim/*']},
    python_requires='>=3.9',
    install_requires=read_requirements('runtime'),
    extras_require={
        **frameworks,
        'all': sorted({r for reqs in frameworks.values() for r in reqs}),
        'tests': read_requirements('tests'),
    },
    zip_safe=False,
)
