"""The one caching rule for tensors that depend on the input size.

Index maps, padding masks and offset tables depend on the map size (and the
window or group geometry); rebuilding them in every block of every forward
costs more than the attention on small maps. They are cached under one rule:

1. **Only pure functions of hashable arguments are cached**, and every
   argument is part of the key: sizes and geometry as ints / tuples, the
   ``torch.device`` of the result and, where the result is floating point
   and follows the caller's precision, its ``torch.dtype``. A cached
   function reads nothing else (no module attribute, no global setting), so
   what it returns depends only on its key.
2. **Nothing computed from parameters or buffers is cached** (the CrossFormer
   dynamic position bias table, gathered bias tables): such tensors are
   recomputed in every call. A weights-version key cannot see every write
   (``param.data.copy_``, MMEngine's EMA swap and fused optimizer steps do
   not bump version counters), and these tables are small next to the
   attention that uses them, so recomputing is both always correct and cheap.
3. **Bounded**: each cached function keeps at most ``maxsize`` results
   (least recently used dropped first), shared by all modules; nothing is
   stored on a module, so ``deepcopy``, pickling and ``state_dict`` see no
   cache, and no call's result depends on an earlier call.
4. **Outside inference mode**: results are built with inference mode off, so
   a mask first built under ``torch.inference_mode()`` can later take part in
   a training forward. Results are shared between callers: never modify one
   in place.

5. **Traced under** ``torch.compile``: while Dynamo traces, the lookup
   calls the plain function, so the tensor is built inside the graph from
   the (possibly symbolic) sizes. The graph then neither bakes in a tensor
   of one size nor reads a cache Dynamo cannot guard. A cached function
   must therefore be traceable: no ``Tensor.item()``, no data-dependent
   shapes (boolean indexing, ``nonzero``) and no branch on tensor values.
"""
import functools
from typing import Callable, TypeVar

import torch

Fn = TypeVar('Fn', bound=Callable)

#: Results kept per cached function; enough for every size a detector or
#: segmentor sees in a multi-scale test, at every stage of every family.
DEFAULT_MAXSIZE = 64


def size_cache(maxsize: int = DEFAULT_MAXSIZE) -> Callable[[Fn], Fn]:
    """Decorate a function of the input size under the module's rule: a
    bounded LRU cache keyed by all its (hashable) arguments, evaluated with
    inference mode off; traced, not looked up, under ``torch.compile``.

    The decorated function has ``cache_info()`` and ``cache_clear()`` as
    :func:`functools.lru_cache`, and ``size_cached`` set to True (the tests
    check that every cache of the package follows this rule).
    """
    if not isinstance(maxsize, int) or maxsize < 1:
        raise ValueError(f'size_cache needs a positive maxsize, got {maxsize!r}')

    def decorate(fn: Fn) -> Fn:
        cached = functools.lru_cache(maxsize=maxsize)(
            torch.inference_mode(False)(fn))

        @functools.wraps(fn)
        def lookup(*args, **kwargs):
            if torch.compiler.is_compiling():
                return fn(*args, **kwargs)
            return cached(*args, **kwargs)

        lookup.cache_info = cached.cache_info
        lookup.cache_clear = cached.cache_clear
        lookup.size_cached = True
        return lookup

    return decorate
