"""Make ``import torchvision`` work in an environment with the CPU build of torch.

The only torchvision release for torch 2.13 (0.28.0, ``Requires-Dist:
torch==2.13.0``) is published on PyPI as a CUDA build: its compiled extension
``torchvision/_C.so`` links against ``libc10_cuda.so``/``libtorch_cuda.so``/
``libcudart.so.13``, which the CPU torch does not ship. torchvision tolerates a
missing extension (``torchvision.extension._has_ops()`` is then False and the
Python wrappers refuse to run the compiled ops), except for one thing:
``torchvision/_meta_registrations.py`` unconditionally registers fake kernels
for ``torchvision::nms`` and ``torchvision::qnms``, and that fails with
``RuntimeError: operator torchvision::nms does not exist``. So ``import
torchvision`` fails, and with it ``mmpretrain.models``, ``mmdet.models``'
data preprocessors, ``mmseg.models`` and mmengine's ``collect_env``.

This is a repair of the environment, not of mmvit_backbones: the set-up
(``tools/setup/setup_env.sh``) runs ``python torchvision_cpu.py install``,
which copies this file into the environment's ``site-packages`` as
``mmvit_torchvision_cpu.py`` with a ``.pth`` line that imports it at start-up,
but only when ``import torchvision`` fails there. At start-up it only adds an
import hook (no torch import); the first ``import torchvision`` then

* loads ``torchvision/_C`` as torchvision would; if that works, nothing else
  happens (a matching torchvision was installed since);
* otherwise declares the operator schemas the extension would have registered
  (``torchvision::nms``, ``roi_align``, ``deform_conv2d``, ...; torchvision
  0.28's C++ ``m.def`` strings) in a ``torch.library`` fragment, so
  torchvision's import-time registrations find them;
* gives every declared operator a kernel that raises
  :class:`TorchvisionOpsUnavailableError`, so nothing computes silently wrong
  results, and makes torchvision's ``_assert_has_ops()`` (called by
  ``torchvision.ops.nms``, ``roi_pool``, ``deform_conv2d``, ...) raise the same
  error, which says why the ops are missing and what to use instead
  (``mmcv.ops``).

``torchvision.extension._has_ops()`` stays False, so torchvision keeps taking
its own pure-PyTorch paths where it has them (``torchvision.ops.roi_align``
and ``box_iou`` still work). ``python torchvision_cpu.py remove`` takes it out
of the environment again. See ``docs/torchvision_cpu.md``.
"""
import importlib.abc
import importlib.machinery
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Callable, Optional

__all__ = [
    'TorchvisionOpsUnavailableError', 'ensure_torchvision_importable',
    'torchvision_shim_active'
]

logger = logging.getLogger('mmvit_torchvision_cpu')

#: The name under which the set-up installs this file in site-packages.
MODULE_NAME = 'mmvit_torchvision_cpu'

#: Set to 1 to turn the shim off (``import torchvision`` then fails as usual
#: when its extension cannot be loaded).
DISABLE_ENV = 'MMVIT_DISABLE_TORCHVISION_SHIM'

# The operators torchvision 0.28's ``_C`` extension defines, with the exact
# schemas of its C++ ``m.def`` calls (torchvision/csrc/ops/*.cpp, vision.cpp).
TORCHVISION_OP_SCHEMAS = (
    'nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor',
    'qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor',
    'box_iou_rotated(Tensor boxes1, Tensor boxes2) -> Tensor',
    'roi_align(Tensor input, Tensor rois, float spatial_scale, '
    'SymInt pooled_height, SymInt pooled_width, int sampling_ratio, '
    'bool aligned) -> Tensor',
    '_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, '
    'SymInt pooled_height, SymInt pooled_width, SymInt batch_size, '
    'SymInt channels, SymInt height, SymInt width, int sampling_ratio, '
    'bool aligned) -> Tensor',
    'qroi_align(Tensor input, Tensor rois, float input_scale, '
    'int input_zero_point, float rois_scale, int rois_zero_point, '
    'float spatial_scale, SymInt pooled_height, SymInt pooled_width, '
    'int sampling_ratio, bool aligned) -> Tensor',
    'roi_pool(Tensor input, Tensor rois, float spatial_scale, '
    'SymInt pooled_height, SymInt pooled_width) -> (Tensor, Tensor)',
    '_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, '
    'float spatial_scale, SymInt pooled_height, SymInt pooled_width, '
    'SymInt batch_size, SymInt channels, SymInt height, SymInt width) '
    '-> Tensor',
    'ps_roi_align(Tensor input, Tensor rois, float spatial_scale, '
    'SymInt pooled_height, SymInt pooled_width, int sampling_ratio) '
    '-> (Tensor, Tensor)',
    '_ps_roi_align_backward(Tensor grad, Tensor rois, '
    'Tensor channel_mapping, float spatial_scale, SymInt pooled_height, '
    'SymInt pooled_width, int sampling_ratio, SymInt batch_size, '
    'SymInt channels, SymInt height, SymInt width) -> Tensor',
    'ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, '
    'SymInt pooled_height, SymInt pooled_width) -> (Tensor, Tensor)',
    '_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, '
    'float spatial_scale, SymInt pooled_height, SymInt pooled_width, '
    'SymInt batch_size, SymInt channels, SymInt height, SymInt width) '
    '-> Tensor',
    'deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, '
    'Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, '
    'SymInt pad_w, SymInt dilation_h, SymInt dilation_w, SymInt groups, '
    'SymInt offset_groups, bool use_mask) -> Tensor',
    '_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, '
    'Tensor offset, Tensor mask, Tensor bias, SymInt stride_h, '
    'SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, '
    'SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) '
    '-> (Tensor, Tensor, Tensor, Tensor, Tensor)',
    '_cuda_version() -> int',
)

# What to use instead, per operator family (mmcv 2.1.0 built with its ops has
# CPU kernels for all of these).
_ALTERNATIVES = {
    'nms': 'mmcv.ops.nms / mmcv.ops.batched_nms',
    'qnms': 'mmcv.ops.nms on dequantized boxes',
    'box_iou_rotated': 'mmcv.ops.box_iou_rotated',
    'roi_align': 'mmcv.ops.roi_align / mmcv.ops.RoIAlign',
    'qroi_align': 'mmcv.ops.roi_align on dequantized inputs',
    'roi_pool': 'mmcv.ops.roi_pool / mmcv.ops.RoIPool',
    'ps_roi_align': 'mmcv.ops.roi_align (no position-sensitive variant)',
    'ps_roi_pool': 'mmcv.ops.roi_pool (no position-sensitive variant)',
    'deform_conv2d': ('mmcv.ops.deform_conv2d / mmcv.ops.DeformConv2d '
                      '(mmcv.ops.ModulatedDeformConv2d with a mask)'),
}


_SHIMMED_NAMES = frozenset(s.split('(', 1)[0] for s in TORCHVISION_OP_SCHEMAS)
# torchvision.ops functions whose name differs from the op they call.
_WRAPPER_OPS = {'box_iou': 'box_iou_rotated'}


class TorchvisionOpsUnavailableError(RuntimeError):
    """A compiled torchvision operator was called while only the shim is
    there."""


# 'absent' | 'disabled' | 'native' | 'shimmed' | 'preimported'
_state: Optional[str] = None
_load_error: str = ''
_shim_lib = None  # keeps the torch.library registrations alive


def _message(op: Optional[str] = None) -> str:
    import torch
    if op is None:
        what = 'The compiled torchvision ops (nms, roi_align, ...) are'
        instead = ('mmcv.ops (nms, batched_nms, roi_align, roi_pool, '
                   'deform_conv2d, box_iou_rotated)')
    else:
        what = f'The compiled op torchvision::{op} is'
        family = op.lstrip('_').replace('_backward', '')
        instead = _ALTERNATIVES.get(family, 'the matching mmcv.ops operator')
    version = _torchvision_version()
    why = _load_error or 'extension not loadable'
    if torch.version.cuda is None:
        why += '; the PyPI torchvision wheels are CUDA builds'
    return (f'{what} unavailable: the compiled extension of torchvision '
            f'{version} cannot be loaded with this torch {torch.__version__} '
            f'({why}). This environment only declared the operator names '
            f'(tools/setup/torchvision_cpu.py) so that the pure-Python parts of torchvision (transforms, '
            f'box_iou, the roi_align fallback) import and run. Use {instead} '
            f'instead (mmcv 2.1.0 built with its ops runs them on CPU), or '
            f'install a torchvision build that matches this torch (see '
            f'docs/torchvision_cpu.md).')


def _torchvision_version() -> str:
    try:
        from importlib.metadata import version
        return version('torchvision')
    except Exception:  # pragma: no cover - metadata missing
        return ''


def _make_unavailable_kernel(op: str) -> Callable:

    def kernel(*args, **kwargs):
        raise TorchvisionOpsUnavailableError(_message(op))

    kernel.__name__ = f'torchvision_{op}_unavailable'
    return kernel


def _assert_has_ops_replacement(has_ops: Callable[[], bool]) -> Callable:

    def _assert_has_ops():
        if not has_ops():
            # Name the op when the caller is one of torchvision.ops' wrappers
            # (nms, roi_pool, deform_conv2d, ...); only runs on the error path.
            caller = sys._getframe(1).f_code.co_name
            op = _WRAPPER_OPS.get(caller, caller)
            raise TorchvisionOpsUnavailableError(
                _message(op if op in _SHIMMED_NAMES else None))

    return _assert_has_ops


class _TorchvisionImportHook(importlib.abc.MetaPathFinder):
    """Run :func:`ensure_torchvision_importable` at the first ``import
    torchvision``, and replace ``torchvision.extension._assert_has_ops`` right
    after that module executes, before ``torchvision.ops`` imports the name.

    It stays in ``sys.meta_path`` (removing a finder while the import system
    iterates over the list would skip the next one) and is inert once done.
    """

    def find_spec(self, fullname, path, target=None):
        if fullname == 'torchvision' and _state is None:
            ensure_torchvision_importable()
        elif fullname == 'torchvision.extension' and _state == 'shimmed':
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        module._assert_has_ops = _assert_has_ops_replacement(module._has_ops)

    def __getattr__(self, name):  # get_code, get_source, ... for tools
        return getattr(self._loader, name)


def install_import_hook() -> None:
    """Put the hook first in ``sys.meta_path`` (once); imports no torch. The
    ``.pth`` line of the installed copy calls it at interpreter start-up."""
    if not any(isinstance(f, _TorchvisionImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchvisionImportHook())


def _op_exists(name: str) -> bool:
    import torch
    try:
        torch._C._dispatch_find_schema_or_throw(f'torchvision::{name}', '')
    except RuntimeError:
        return False
    return True


def _try_load_extension(package_dir: str) -> Optional[str]:
    """Load ``torchvision/_C`` as torchvision itself does; return None on
    success, else the reason it failed."""
    finder = importlib.machinery.FileFinder(
        package_dir, (importlib.machinery.ExtensionFileLoader,
                      importlib.machinery.EXTENSION_SUFFIXES))
    spec = finder.find_spec('_C')
    if spec is None or not spec.origin:
        return f'no compiled extension _C in {package_dir}'
    import torch
    try:
        torch.ops.load_library(spec.origin)
    except (OSError, ImportError, RuntimeError) as err:
        try:  # torch's OSError hides the loader's reason; ask ctypes for it
            import ctypes
            ctypes.CDLL(spec.origin)
        except OSError as cause:
            return str(cause).replace(spec.origin + ': ', '')
        return str(err).splitlines()[-1].strip() or type(err).__name__
    return None


def _install_shim() -> None:
    global _shim_lib
    import torch
    lib = torch.library.Library('torchvision', 'FRAGMENT')
    for schema in TORCHVISION_OP_SCHEMAS:
        name = schema.split('(', 1)[0]
        if _op_exists(name):
            continue
        lib.define(schema)
        lib.impl(name, _make_unavailable_kernel(name),
                 'CompositeExplicitAutograd')
    _shim_lib = lib
    install_import_hook()


def ensure_torchvision_importable() -> str:
    """Make ``import torchvision`` succeed with a CPU torch.

    The import hook calls it at the first ``import torchvision``; called
    directly, it must come before anything imports torchvision. Idempotent; after the first call it only returns the cached state.

    Returns:
        str: ``'native'`` (the compiled extension loads; nothing changed),
        ``'shimmed'`` (operator names declared, compiled ops raise
        :class:`TorchvisionOpsUnavailableError`), ``'absent'`` (torchvision is
        not installed), ``'preimported'`` (torchvision was imported before;
        nothing changed) or ``'disabled'`` (``MMVIT_DISABLE_TORCHVISION_SHIM``
        is set).
    """
    global _state, _load_error
    if _state is not None:
        return _state
    if os.environ.get(DISABLE_ENV, '') not in ('', '0'):
        _state = 'disabled'
    elif 'torchvision' in sys.modules:
        _state = 'preimported'
    elif _op_exists('nms'):
        _state = 'native'
    else:
        spec = importlib.machinery.PathFinder.find_spec('torchvision')
        if spec is None or not spec.submodule_search_locations:
            _state = 'absent'
        else:
            package_dir = list(spec.submodule_search_locations)[0]
            error = _try_load_extension(package_dir)
            if error is None:
                _state = 'native'
            else:
                _load_error = error
                _install_shim()
                _state = 'shimmed'
                logger.debug(
                    'torchvision %s: compiled ops unavailable (%s); declared '
                    'the torchvision::* op names', _torchvision_version(),
                    error)
    return _state


def torchvision_shim_active() -> bool:
    """Whether :func:`ensure_torchvision_importable` installed the shim."""
    return _state == 'shimmed'


def _site_packages() -> Path:
    return Path(sysconfig.get_paths()['purelib'])


def _torchvision_imports() -> bool:
    """Whether a fresh interpreter without this shim imports torchvision."""
    env = dict(os.environ, **{DISABLE_ENV: '1'})
    result = subprocess.run([sys.executable, '-c', 'import torchvision'],
                            env=env, capture_output=True, text=True)
    return result.returncode == 0


def remove() -> None:
    """Take the shim out of this environment's site-packages."""
    for suffix in ('.py', '.pth'):
        (_site_packages() / (MODULE_NAME + suffix)).unlink(missing_ok=True)


def install() -> str:
    """Copy this file into site-packages with a start-up ``.pth`` line if
    ``import torchvision`` fails here; remove it if torchvision imports on
    its own. Returns what was done, in words."""
    remove()
    if importlib.machinery.PathFinder.find_spec('torchvision') is None:
        return 'torchvision is not installed; nothing to do'
    if _torchvision_imports():
        return 'torchvision imports with this torch; no shim needed'
    site = _site_packages()
    shutil.copyfile(__file__, site / (MODULE_NAME + '.py'))
    (site / (MODULE_NAME + '.pth')).write_text(
        f'import {MODULE_NAME}; {MODULE_NAME}.install_import_hook()\n')
    return (f'torchvision cannot load its compiled ops with this torch: '
            f'installed {MODULE_NAME} in {site}')


if __name__ == '__main__':
    commands = {'install': install, 'remove': remove}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f'usage: python {Path(__file__).name} install|remove')
    print(commands[sys.argv[1]]() or 'removed')
