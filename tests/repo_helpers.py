"""Helpers shared by the tests of the repository's scripts and converters."""
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import List, Tuple

REPO = Path(__file__).resolve().parents[1]
KEY_LISTS = REPO.parent / 'shared' / 'specs' / 'checkpoint_keys'


def load_script(relative_path: str) -> ModuleType:
    """Import a script of the repository (e.g.
    ``tools/model_converters/focal2mmvit.py``) as a module."""
    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(
        'script_' + path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_key_list(name: str) -> List[Tuple[str, Tuple[int, ...]]]:
    """``[(key, shape)]`` of ``../shared/specs/checkpoint_keys/NAME``, in
    file order (one ``key<TAB>(d0, d1, ...)`` line per tensor)."""
    entries = []
    for line in (KEY_LISTS / name).read_text().splitlines():
        key, shape = line.split('\t')
        entries.append(
            (key, tuple(int(s) for s in shape.strip('()').split(',') if s)))
    return entries
