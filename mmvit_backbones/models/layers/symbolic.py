"""Whether sizes are symbolic: the test that picks a layer's path for
``torch.compile`` with dynamic shapes."""
import torch
from torch.fx.experimental.symbolic_shapes import statically_known_true

# Larger than any tensor size: a size not known to be below it is symbolic.
UNBOUNDED = 2**62


def is_symbolic(*values) -> bool:
    """Whether any of ``values`` (ints, or tensors, whose sizes count) is a
    symbolic size: traced by ``torch.compile`` with dynamic shapes.

    Layers take another path than eager mode's only for symbolic sizes, one
    that keeps a single compiled graph for every input size (no guard on a
    size, nothing that Inductor fails to lower). With static sizes (eager
    mode, or a graph compiled for one input size) they take the eager path,
    which compiles to a faster graph.

    Dynamo shows a symbolic size to the traced code as an ``int``, so the
    test is whether the size is known without a guard to be a number: a
    symbolic size's range has no upper bound, and ``statically_known_true``
    adds no guard.
    """
    if not torch.compiler.is_compiling():
        return False
    for value in values:
        sizes = value.shape if isinstance(value, torch.Tensor) else (value, )
        if not all(statically_known_true(size < UNBOUNDED) for size in sizes):
            return True
    return False
