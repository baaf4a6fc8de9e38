"""Helpers shared by the tests of the repository's scripts and converters."""
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import List, Tuple

REPO = Path(__file__).resolve().parents[1]
KEY_LISTS = REPO / 'reference' / 'checkpoint_keys'


def load_script(relative_path: str) -> ModuleType:
    """Import a script of the repository (e.g.
    ``tools/model_converters/focal2mmvit.py``) as a module.

    As when Python runs the script, its folder comes first on ``sys.path``
    while it is imported, so that it finds the helper modules beside it
    (``tools/misc/generated_set.py``).
    """
    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(
        'script_' + path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


def read_key_list(name: str) -> List[Tuple[str, Tuple[int, ...]]]:
    """``[(key, shape)]`` of an official checkpoint, in its order, from
    ``reference/checkpoint_keys/NAME.json`` (``{"checkpoint": what it is,
    "format": ..., "keys": [[key, [d0, d1, ...]], ...]}``)."""
    keys = json.loads((KEY_LISTS / f'{name}.json').read_text())['keys']
    return [(key, tuple(shape)) for key, shape in keys]
