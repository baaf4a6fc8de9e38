"""Safe loading of checkpoint files: torch ``.pth`` and PaddlePaddle
``.pdparams``, with one allow-list of what a weights file may unpickle.

Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it only
rebuilds tensors, containers and primitive values plus the globals that were
allow-listed with ``torch.serialization.add_safe_globals``. MMEngine 0.10.7
calls ``torch.load`` without ``weights_only``, so a checkpoint written by a
Runner (it stores the message hub's ``HistoryBuffer`` objects, the numpy
arrays and scalars inside them, and references to HistoryBuffer methods
pickled as ``getattr`` calls) is refused by ``tools/test.py CKPT``,
``--resume`` and ``load_from``.

:func:`register_checkpoint_safe_globals` allow-lists exactly the types that
such checkpoints and ``.pdparams`` files contain, keeping the protection against checkpoints that
would run code when unpickled. :func:`refuse_unsafe_checkpoints` turns torch's
refusal of any other global into an :class:`UnsafeCheckpointError` that names
the file and the offending globals and says how to convert a trusted file,
and a file that is no readable checkpoint at all (empty, truncated, random
bytes) into a :class:`CorruptCheckpointError`: a damaged file is not an
unsafe one, and turning the protection off would not help it.

A ``.pdparams`` file is a plain pickle (no torch archive around it), read by
:func:`load_pdparams` with a restricted unpickler that accepts the same
allow-list, plus the two data globals that torch's own unpickler accepts
natively (``collections.OrderedDict`` and ``_codecs.encode``, restricted to
``(str, 'latin1')``); its refusals and read errors are the same two errors.
The converters (:mod:`mmvit_backbones.converters`) load every source file
through :func:`load_torch_checkpoint` or :func:`load_pdparams`.
"""
import os
import pickle
import pickletools
import re
import zipfile
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_WEIGHTS_ONLY_FAILURE = 'Weights only load failed'
_REFUSED_GLOBAL_PATTERNS = (
    re.compile(r'GLOBAL (\S+) was not an allowed global'),
    re.compile(r'GLOBAL (\S+) whose module \S+ is blocked'),
    re.compile(r'reduce for unrecognized function (.+?)(?: which belongs|$)',
               re.MULTILINE),
    re.compile(r'allowlisted via `add_safe_globals`,? but got (.+)$',
               re.MULTILINE),
    re.compile(r'Refused (getattr\(.+?\)):'),
)
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')
_NUMPY_SCALAR_TYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64,
                       np.uint8, np.uint16, np.uint32, np.uint64, np.float16,
                       np.float32, np.float64)

_registered = False


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds pickled objects outside the weights-only allow-list.
    """


class CorruptCheckpointError(ValueError):
    """A file is no readable checkpoint: empty, truncated, or not a
    checkpoint at all."""


def corrupt_checkpoint_message(path: str, problem: str) -> str:
    """The message of :class:`CorruptCheckpointError` for ``path``."""
    return (f'checkpoint {path!r} cannot be read: {problem}. The file is '
            'damaged or is not a checkpoint (an interrupted download or '
            'copy?); this is not a safety refusal, and loading it with '
            'weights_only=False would not help.')


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` cannot be a torch checkpoint, or None if its structure
    reads (zip format: the archive and its ``data.pkl``; legacy format: its
    pickles). Nothing is unpickled.
    """
    size = os.path.getsize(path)
    if size == 0:
        return 'it is empty (0 bytes)'
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                pickles = [n for n in names if n.endswith('/data.pkl')
                           or n == 'data.pkl']
                if not pickles:
                    return ('it is a zip archive without the data.pkl of a '
                            'torch checkpoint')
                list(pickletools.genops(archive.read(pickles[0])))
                damaged = archive.testzip()
        except (zipfile.BadZipFile, ValueError, EOFError, OSError) as error:
            return f'its zip archive is damaged ({error})'
        if damaged is not None:
            return f'its zip archive is damaged (bad CRC in {damaged})'
        return None
    with open(path, 'rb') as f:
        head = f.read(2)
        if head[:1] != b'\x80':
            return ('it is neither a zip-format nor a legacy torch checkpoint '
                    f'({size} bytes starting with {head!r})')
        f.seek(0)
        try:  # legacy format: magic number, protocol, sys info, the object
            for _ in range(4):
                for _ in pickletools.genops(f):
                    pass
        except (ValueError, EOFError) as error:
            return f'its pickled data is truncated or damaged ({error})'
    return None


class _RefusedGlobal(pickle.UnpicklingError):
    """A global outside the allow-list, or an allow-listed function called
    with arguments it refuses (in a ``.pdparams`` file, the file is named
    when :func:`load_pdparams` turns it into an UnsafeCheckpointError)."""


def _numpy_core():
    """Return numpy's ``core`` package (``numpy._core`` from numpy 2)."""
    return getattr(np, '_core', None) or np.core


def _history_buffer_method(owner: object, name: str):
    """Resolve ``getattr(HistoryBuffer, name)`` for its statistics methods.

    ``HistoryBuffer.__getstate__`` stores its statistics methods, which pickle
    writes as ``builtins.getattr(HistoryBuffer, 'mean')`` and the like. This
    function is allow-listed under the name ``builtins.getattr`` instead of
    the real ``getattr``, which would let a checkpoint fetch any attribute of
    any object it can reference.

    Raises:
        pickle.UnpicklingError: For any other owner or attribute.
    """
    if owner is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise _RefusedGlobal(
        f'Refused getattr({owner!r}, {name!r}): only '
        'getattr(HistoryBuffer, name) for its statistics methods is allowed')


def checkpoint_safe_globals() -> list:
    """List the globals that weights files may pickle.

    MMEngine Runner checkpoints: the message hub stores ``HistoryBuffer``
    objects; their statistics methods pickle through ``builtins.getattr``
    (restricted here to exactly those methods, see
    :func:`_history_buffer_method`) and their numpy arrays through
    ``ndarray``, ``dtype``, ``_reconstruct`` and the class of the array's
    dtype. Numpy scalars in the runtime info (``eta``, a metric kept as
    ``best_score`` by ``CheckpointHook(save_best=...)``) pickle through
    ``scalar`` and their dtype's class. The dtypes seen in mmdet and mmseg
    runs are float64 (logged values, ``eta``), int64 (counts) and float32
    (mmseg's IoUMetric); a metric may return any fixed-size numeric type, so
    the dtype classes of bool and of every int, uint and float size are
    listed (they describe data and run no code). PaddlePaddle ``.pdparams``
    files (numpy arrays) use the same globals, and ``_frombuffer`` for arrays
    pickled with protocol 5. Numpy 1 and 2 name the module of these functions
    differently (``numpy.core``, ``numpy._core``); both names are listed so
    that files written under either load.

    Returns:
        list: Objects and ``(object, pickled name)`` pairs accepted by
        ``torch.serialization.add_safe_globals``.
    """
    core = _numpy_core()
    numpy_functions = [
        (function, f'{module}.{submodule}.{function.__name__}')
        for submodule, function in (
            ('multiarray', core.multiarray._reconstruct),
            ('multiarray', core.multiarray.scalar),
            ('numeric', core.numeric._frombuffer))
        for module in ('numpy.core', 'numpy._core')
    ]
    return [
        HistoryBuffer,
        (_history_buffer_method, 'builtins.getattr'),
        np.ndarray,
        np.dtype,
        *(type(np.dtype(scalar_type)) for scalar_type in _NUMPY_SCALAR_TYPES),
        *numpy_functions,
    ]


def register_checkpoint_safe_globals() -> None:
    """Allow-list the globals of MMEngine Runner checkpoints for torch.load.

    Idempotent: only the first call registers anything. Does nothing on torch
    versions without ``add_safe_globals`` (they do not load weights-only by
    default).
    """
    global _registered
    if _registered or not hasattr(torch.serialization, 'add_safe_globals'):
        return
    torch.serialization.add_safe_globals(checkpoint_safe_globals())
    _registered = True


def unsafe_checkpoint_globals(path: str) -> List[str]:
    """Read the globals of a local checkpoint that torch would refuse.

    The pickle stream is disassembled, not executed, and no tensor is read.

    Args:
        path (str): A file written by ``torch.save`` (zip format).

    Returns:
        list[str]: Sorted ``module.name`` strings; empty when the checkpoint
        loads with ``weights_only=True``.
    """
    register_checkpoint_safe_globals()
    return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))


def unsafe_checkpoint_message(
        refused: List[str],
        checkpoint: Union[None, str, Sequence[str]] = None) -> str:
    """Explain that a checkpoint was refused and what to do about it.

    Args:
        refused (list[str]): Names of the globals that were refused.
        checkpoint (str | list[str], optional): Path of the refused file, or
            the paths it is one of, when known.

    Returns:
        str: The message of :class:`UnsafeCheckpointError`.
    """
    if isinstance(checkpoint, str):
        source = f'checkpoint {checkpoint!r}'
    elif checkpoint:
        source = ('one of the checkpoints ' +
                  ', '.join(repr(path) for path in checkpoint))
    else:
        source = ('a checkpoint of this run (load_from, --resume, the tested '
                  'checkpoint or a backbone init_cfg)')
    return (
        f'Refusing to load {source}: it pickles {", ".join(refused)}, which '
        'is not allowed by torch.load(weights_only=True). Unpickling it could '
        'run arbitrary code; mmvit_backbones only allows the types that '
        'MMEngine Runner checkpoints contain. If you trust where the file '
        'comes from, convert it once, in a trusted session, to a plain state '
        'dict and load the converted file instead:\n'
        '  python -c "import torch; c = torch.load(\'IN.pth\', '
        'weights_only=False); torch.save({\'state_dict\': '
        'c.get(\'state_dict\', c)}, \'OUT.pth\')"')


def _refused_globals_in_message(message: str) -> List[str]:
    """Pick the refused global out of torch's weights-only error message."""
    for pattern in _REFUSED_GLOBAL_PATTERNS:
        match = pattern.search(message)
        if match:
            return [match.group(1).strip()]
    return ['an object torch could not rebuild (' + message.strip() + ')']


def _local_files(candidates) -> List[str]:
    return [path for path in candidates if path and os.path.isfile(path)]


def _corrupt_local_file(candidates) -> Optional[CorruptCheckpointError]:
    """The first local candidate that is no readable checkpoint."""
    for path in _local_files(candidates):
        problem = checkpoint_problem(path)
        if problem is not None:
            return CorruptCheckpointError(
                corrupt_checkpoint_message(path, problem))
    return None


def _refusal_in_local_file(candidates,
                           refused: List[str]) -> UnsafeCheckpointError:
    """The refusal naming the local candidate that holds refused globals:
    found by scanning zip-format files, else the only local candidate, else
    all of them."""
    files = _local_files(candidates)
    for path in files:
        try:
            found = unsafe_checkpoint_globals(path)
        except (ValueError, RuntimeError, OSError):
            continue
        if found:
            return UnsafeCheckpointError(unsafe_checkpoint_message(found, path))
    if len(files) == 1:
        return UnsafeCheckpointError(
            unsafe_checkpoint_message(refused, files[0]))
    return UnsafeCheckpointError(unsafe_checkpoint_message(refused, files))


_READ_FAILURES = ('PytorchStreamReader failed', 'unexpected EOF',
                  'invalid load key', 'could not find MARK',
                  'pickle data was truncated', 'Ran out of input')


@contextmanager
def refuse_unsafe_checkpoints(*candidates: Optional[str]) -> Iterator[None]:
    """Replace torch's refusals and read errors by clear ones.

    Errors of ``torch.load`` raised inside the block are explained: if one
    of the local ``candidates`` is no readable checkpoint (empty, truncated,
    random bytes), a :class:`CorruptCheckpointError` naming it; otherwise a
    weights-only refusal becomes an :class:`UnsafeCheckpointError` naming the
    file and the refused globals. Other errors pass through unchanged. The
    candidates are only looked at when such an error happens.

    Args:
        *candidates (str, optional): Checkpoint paths the block may load.

    Raises:
        CorruptCheckpointError: A checkpoint file cannot be read.
        UnsafeCheckpointError: A checkpoint was refused.
    """
    try:
        yield
    except (UnsafeCheckpointError, CorruptCheckpointError):
        raise
    except (pickle.UnpicklingError, EOFError, RuntimeError) as error:
        message = str(error)
        refused = _WEIGHTS_ONLY_FAILURE in message
        if not refused and not (isinstance(error, EOFError) or any(
                failure in message for failure in _READ_FAILURES)):
            raise
        corrupt = _corrupt_local_file(candidates)
        if corrupt is not None:
            raise corrupt from None
        if not refused:
            raise
        raise _refusal_in_local_file(
            candidates, _refused_globals_in_message(message)) from None


def checkpoint_keys(path: str, prefix: Optional[str] = None) -> List[str]:
    """Names of the tensors that MMEngine's ``Pretrained`` init reads from
    the local checkpoint ``path``.

    As MMEngine: the dict under ``state_dict`` if there is one, else the
    whole file; with ``prefix`` only the keys under it, stripped of it,
    otherwise every key with a leading ``module.`` removed. The file is
    memory-mapped, so tensor data is not read.
    """
    with refuse_unsafe_checkpoints(path):
        try:
            checkpoint = torch.load(path, map_location='cpu', mmap=True,
                                    weights_only=True)
        except RuntimeError:  # saved without the zip format: no mmap
            checkpoint = torch.load(path, map_location='cpu',
                                    weights_only=True)
    state_dict = checkpoint.get('state_dict', checkpoint)
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        return [k[len(prefix):] for k in state_dict if k.startswith(prefix)]
    return [re.sub(r'^module\.', '', k) for k in state_dict]


def first_keys(keys: Sequence[str], count: int = 3,
               quote: bool = False) -> str:
    """The first ``count`` of ``keys`` for an error message (``repr``-quoted
    if ``quote``), followed by ``...`` when there are more."""
    shown = [repr(key) if quote else key for key in keys[:count]]
    return ', '.join(shown) + (', ...' if len(keys) > count else '')


def load_torch_checkpoint(path: str, trust: bool = False) -> Any:
    """``torch.load`` of ``path`` on CPU, weights-only unless ``trust``.

    Raises:
        UnsafeCheckpointError: The file pickles a global outside the
            allow-list (and ``trust`` is False).
        CorruptCheckpointError: The file is no readable checkpoint.
    """
    with refuse_unsafe_checkpoints(path):
        return torch.load(path, map_location='cpu', weights_only=not trust)


PADDLE_NAME_TABLE = 'StructuredToParameterName@@'


def _latin1_bytes(text: str, encoding: str = 'latin1') -> bytes:
    """``_codecs.encode`` as pickle protocol 2 uses it for the raw bytes of
    numpy arrays (``encode(str, 'latin1')``): data, not code; nothing else
    is accepted."""
    if not isinstance(text, str) or encoding.lower() not in ('latin1',
                                                              'latin-1'):
        raise _RefusedGlobal(
            'refused _codecs.encode with arguments other than (str, '
            f"'latin1'): got ({type(text).__name__}, {encoding!r})")
    return text.encode('latin1')


def _pickle_safe_globals() -> Dict[str, Any]:
    """Pickled name -> object for the plain-pickle reader: the torch
    allow-list and the data globals that torch's unpickler accepts itself.
    """
    named = {}
    for entry in checkpoint_safe_globals():
        obj, name = entry if isinstance(entry, tuple) else (
            entry, f'{entry.__module__}.{entry.__qualname__}')
        named[name] = obj
    named['collections.OrderedDict'] = OrderedDict
    named['_codecs.encode'] = _latin1_bytes
    return named


class _WeightsUnpickler(pickle.Unpickler):
    """Unpickler that only resolves the globals of the allow-list."""

    def find_class(self, module: str, name: str):
        allowed = _pickle_safe_globals().get(f'{module}.{name}')
        if allowed is None:
            raise _RefusedGlobal(
                f'refused to unpickle {module}.{name}: a .pdparams file of '
                'weights holds only numpy arrays')
        return allowed


def load_pdparams(path: str, trust: bool = False) -> Dict[str, np.ndarray]:
    """The arrays of a PaddlePaddle ``.pdparams`` file, keyed by name.

    A file written by ``paddle.save(model.state_dict())`` is a pickled dict
    of numpy arrays plus one ``StructuredToParameterName@@`` entry
    (structured name -> internal parameter name, not a weight), which is
    left out. PaddlePaddle is not needed.

    Args:
        path (str): The file.
        trust (bool): Unpickle with the plain unpickler (any global); only
            for files from a trusted source.

    Raises:
        UnsafeCheckpointError: If the file references a global outside the
            allow-list and ``trust`` is False.
        CorruptCheckpointError: If the file is empty, damaged, or not a
            pickle (a torch ``.pth`` zip archive, random bytes).
        KeyError: If the file is not a dict of arrays.
    """
    if os.path.getsize(path) == 0:
        raise CorruptCheckpointError(
            corrupt_checkpoint_message(path, 'it is empty (0 bytes)'))
    if zipfile.is_zipfile(path):
        raise CorruptCheckpointError(
            f'{path!r} is a zip archive (a torch .pth checkpoint?), not the '
            'pickle of a PaddlePaddle .pdparams file: convert CrossFormer '
            'and Focal .pth files with their own converters')
    try:
        with open(path, 'rb') as f:
            loaded = (pickle.load(f) if trust else _WeightsUnpickler(
                f, encoding='latin1').load())
    except _RefusedGlobal as error:
        raise UnsafeCheckpointError(f'{path}: {error}') from None
    except Exception as error:  # any failure to parse: damaged bytes
        raise CorruptCheckpointError(
            corrupt_checkpoint_message(
                path, 'its pickled data is truncated or damaged '
                f'({type(error).__name__}: {error})')) from None
    if not isinstance(loaded, dict):
        raise KeyError(f'expected a dict of arrays, got {type(loaded)}')
    weights = {k: v for k, v in loaded.items() if k != PADDLE_NAME_TABLE}
    others = sorted(k for k, v in weights.items()
                    if not isinstance(v, np.ndarray))
    if others:
        raise KeyError(f'not a .pdparams state dict: {others[:5]} are not '
                       'arrays')
    return weights
