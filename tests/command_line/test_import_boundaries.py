"""What each part of the repository may import.

``mmvit_backbones.models`` is the library: importing it loads neither the
OpenMMLab frameworks (mmdet, mmseg, mmpretrain), nor the analysis, converter
or command-line code. The analysis code does not depend on the command-line
code, and no script in ``tools/`` imports another one.
"""
import ast
import json
import subprocess
import sys

import pytest

from repo_helpers import REPO

PACKAGE = REPO / 'mmvit_backbones'
TOOLS = REPO / 'tools'
APART_FROM_MODELS = ('mmdet', 'mmseg', 'mmpretrain',
                     'mmvit_backbones.analysis', 'mmvit_backbones.converters',
                     'mmvit_backbones.cli')


def imported_modules(path):
    """Absolute names of the modules a Python file imports, at any depth
    (relative imports resolved against the file's package)."""
    package = '.'.join(path.relative_to(REPO).with_suffix('').parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module
            if node.level:
                parts = package.split('.')
                base = parts[:len(parts) - node.level + 1]
                module = '.'.join(base + ([module] if module else []))
            names.append(module)
            names += [f'{module}.{alias.name}' for alias in node.names]
    return names


def is_within(name, prefixes):
    return any(name == p or name.startswith(p + '.') for p in prefixes)


def test_importing_the_models_loads_no_framework_analysis_or_tooling():
    probe = ('import json, sys, mmvit_backbones.models; '
             'print(json.dumps(sorted(sys.modules)))')
    result = subprocess.run([sys.executable, '-c', probe], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert 'mmvit_backbones.models.backbones' in loaded
    assert [name for name in loaded if is_within(name, APART_FROM_MODELS)] \
        == []


@pytest.mark.parametrize(
    'path', sorted((PACKAGE / 'models').rglob('*.py')),
    ids=lambda path: str(path.relative_to(PACKAGE)))
def test_model_code_imports_no_analysis_or_tooling(path):
    """Also imports inside functions, which the probe above cannot see."""
    assert [
        name for name in imported_modules(path) if is_within(
            name, ('mmvit_backbones.analysis', 'mmvit_backbones.converters',
                   'mmvit_backbones.cli', 'tools'))
    ] == []


@pytest.mark.parametrize(
    'path', sorted((PACKAGE / 'analysis').rglob('*.py')),
    ids=lambda path: str(path.relative_to(PACKAGE)))
def test_analysis_code_does_not_depend_on_the_command_line_code(path):
    assert [
        name for name in imported_modules(path)
        if is_within(name, ('mmvit_backbones.cli', 'tools'))
    ] == []


TOOL_FILES = sorted(TOOLS.rglob('*.py'))
SCRIPTS = [
    path for path in TOOL_FILES
    if "if __name__ == '__main__':" in path.read_text()
]


def test_every_tool_file_but_the_demo_set_helper_is_a_script():
    assert [path.relative_to(TOOLS).as_posix() for path in TOOL_FILES
            if path not in SCRIPTS] == ['misc/generated_set.py']


@pytest.mark.parametrize('path', TOOL_FILES,
                         ids=lambda path: str(path.relative_to(REPO)))
def test_no_tool_imports_a_script(path):
    """Code that two scripts share lives in the package (or, for the demo-set
    generators, in the helper module beside them)."""
    script_names = {script.stem for script in SCRIPTS}
    imported = {name.split('.')[0] for name in imported_modules(path)}
    assert imported & script_names == set()
