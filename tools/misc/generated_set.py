"""Bookkeeping shared by the generators of the bundled demo sets
(``make_mini_coco.py``, ``make_mini_ade20k.py``, ``make_mini_imagenet.py``).

A set records the parameters it was made with in a JSON file written after
everything else, so a rerun with the same parameters keeps a complete set,
and a set left half-written by an interrupted run is made again.

This is a module, not a script. It stays beside the generators rather than
in the ``mmvit_backbones`` package because importing anything from the
package imports torch, mmcv and the backbones, while the generators need
only numpy and Pillow (and pycocotools for COCO).
"""
import argparse
import json
import os
import os.path as osp
from dataclasses import asdict, fields, replace
from typing import Any, Callable, Optional, Sequence

import numpy as np

PARAMS_FILE = 'params.json'


def write_json(obj: Any, path: str) -> None:
    """Write ``obj`` as compact JSON with a stable key order."""
    with open(path, 'w') as f:
        json.dump(obj, f, sort_keys=True, separators=(',', ':'))
        f.write('\n')


def recorded_params(params_path: str) -> Optional[dict]:
    """The parameters a set recorded, or None if it recorded none."""
    if not osp.isfile(params_path):
        return None
    with open(params_path) as f:
        return json.load(f)


def regenerate(params, params_path: str, write: Callable[[], None],
               is_complete: Callable[[], bool], force: bool = False) -> bool:
    """Run ``write()`` unless the set at ``params_path`` was made with
    ``params`` and ``is_complete()``; record ``params`` (a dataclass) last.

    Returns True when the set was written, False when it was kept.
    """
    if (not force and recorded_params(params_path) == asdict(params)
            and is_complete()):
        return False
    if osp.exists(params_path):
        os.remove(params_path)
    write()
    write_json(asdict(params), params_path)
    return True


def clear_files(directory: str, suffixes: Sequence[str]) -> None:
    """Remove the files with these suffixes a previous run left in
    ``directory`` (which may not exist yet)."""
    if not osp.isdir(directory):
        return
    for name in os.listdir(directory):
        if name.endswith(tuple(suffixes)):
            os.remove(osp.join(directory, name))


def pixel_grid(size: int):
    """x and y coordinates of the pixel centres of a square image."""
    coords = np.arange(size, dtype=np.float64) + 0.5
    return np.meshgrid(coords, coords)


def params_from_command_line(description: str, defaults, out: str):
    """The output directory, ``--force`` and the set's parameters from the
    command line: one option per field of the ``defaults`` dataclass
    (``num_train`` -> ``--num-train``, typed as its default) except
    ``version``.

    Returns ``(params, out_dir, force)``.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--out', default=out, help='output directory')
    parser.add_argument('--force', action='store_true',
                        help='regenerate even if the set is already there')
    names = [f.name for f in fields(defaults) if f.name != 'version']
    for name in names:
        default = getattr(defaults, name)
        parser.add_argument('--' + name.replace('_', '-'), type=type(default),
                            default=default)
    args = parser.parse_args()
    params = replace(defaults, **{name: getattr(args, name) for name in names})
    return params, args.out, args.force
