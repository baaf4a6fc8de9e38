"""Loading many OpenMMLab configs in one process (tests, the model zoo)."""
import contextlib
import functools
from typing import Iterator

from mmengine.config import Config


@contextlib.contextmanager
def package_config_lookups_cached() -> Iterator[None]:
    """Resolve each ``mmdet::`` / ``mmseg::`` / ``mmpretrain::`` base once.

    For every such base MMEngine scans the installed distributions and
    parses every metafile of the package (about 200 YAML files for mmdet),
    0.5-3 s per config on a 2-core machine; the answer only depends on the
    base's name, so inside this context it is remembered.
    """
    original = Config.__dict__['_get_cfg_path']
    resolve = original.__func__

    @functools.lru_cache(maxsize=None)
    def resolve_package_path(cfg_path):
        return resolve(cfg_path, '')

    def cached(cfg_path, filename):
        if '::' in cfg_path:
            return resolve_package_path(cfg_path)
        return resolve(cfg_path, filename)

    Config._get_cfg_path = staticmethod(cached)
    try:
        yield
    finally:
        Config._get_cfg_path = original
