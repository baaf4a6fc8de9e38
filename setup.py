from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def read_version():
    namespace = {}
    exec((ROOT / 'mmvit_backbones' / 'version.py').read_text(), namespace)
    return namespace['__version__']


def read_requirements(name):
    lines = (ROOT / 'requirements' / name).read_text().splitlines()
    return [line for line in lines if line and not line.startswith('#')]


setup(
    name='mmvit_backbones',
    version=read_version(),
    description='MAFormer, CrossFormer(++), Focal Transformer and MixFormer '
    'backbones for MMDetection, MMSegmentation and MMPretrain',
    long_description=(ROOT / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    zip_safe=False,
)
