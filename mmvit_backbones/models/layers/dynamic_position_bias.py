"""Dynamic position bias (DPB, CrossFormer section 3.2.2, eq. 2).

An MLP maps the relative offset ``(dh, dw)`` of two tokens of a group to one
bias per head. It is evaluated on the ``(2 Gh - 1)(2 Gw - 1)`` distinct
offsets of a ``Gh x Gw`` group only and the result is gathered for every
query/key pair (the paper's O(G^2) implementation), so it works for any
group shape with a fixed number of weights.
"""
from functools import lru_cache
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

GroupShape = Tuple[int, int]


@lru_cache(maxsize=32)
@torch.inference_mode(False)
def relative_offsets(group: GroupShape, device: torch.device,
                     dtype: torch.dtype) -> torch.Tensor:
    """All offsets of a (Gh, Gw) group as floats, dh-major.

    Returns ((2 Gh - 1) * (2 Gw - 1), 2): row ``(dh + Gh - 1) * (2 Gw - 1) +
    dw + Gw - 1`` holds ``(dh, dw)``, dh in [1 - Gh, Gh - 1], dw in
    [1 - Gw, Gw - 1]. Cached; never modify the result in place.
    """
    gh, gw = group
    dh = torch.arange(1 - gh, gh, device=device, dtype=dtype)
    dw = torch.arange(1 - gw, gw, device=device, dtype=dtype)
    grid = (dh[:, None].expand(-1, 2 * gw - 1),
            dw[None, :].expand(2 * gh - 1, -1))
    return torch.stack(grid, -1).view(-1, 2)


@lru_cache(maxsize=32)
@torch.inference_mode(False)
def relative_position_index(group: GroupShape,
                            device: torch.device) -> torch.Tensor:
    """Row of :func:`relative_offsets` for every (query, key) pair.

    Tokens are numbered row-major inside the group; the offset of query i
    and key j is ``pos_i - pos_j`` (Swin's convention). Returns the flat
    (N * N,) index, N = Gh * Gw. Cached; never modify the result in place.
    """
    gh, gw = group
    token = torch.arange(gh * gw, device=device)
    rows, cols = token // gw, token % gw
    dh = rows[:, None] - rows[None, :]
    dw = cols[:, None] - cols[None, :]
    return ((dh + gh - 1) * (2 * gw - 1) + dw + gw - 1).flatten()


class DynamicPositionBias(nn.Module):
    """MLP relative position bias for groups of any shape (CrossFormer DPB).

    ``mlp``: Linear(2, D') followed by three [LayerNorm(D'), ReLU, Linear]
    stages, the last one projecting to ``num_heads`` (paper Fig. 2c; D' is
    the hidden width, C / 16 in CrossFormer). No residual connections.

    The MLP runs once per call on the offset table. In eval mode, when no
    gradient is needed (``torch.no_grad``/inference mode, or every parameter
    frozen), its output is cached per group shape (the ``max_cached_shapes``
    most recent ones), keyed by the group shape and the autocast dtype in
    force (a table computed under autocast is never served to a plain fp32
    call, nor the reverse). The cache is emptied by every ``train()``/``eval()``
    call and by device/dtype conversion, and an entry is used only while the
    parameters are the very same tensors with unchanged version counters
    (in-place updates such as ``load_state_dict`` bump them). Fused optimizer
    steps and writes through ``.data`` (EMA swaps) bypass version counters;
    they happen in training mode or before ``eval()``, which empties the
    cache. After writing weights through ``.data`` in eval mode, call
    ``eval()`` again.

    Args:
        num_heads (int): Attention heads (biases per pair).
        hidden_dims (int): Hidden width D' of the MLP.
    """
    max_cached_shapes = 16

    def __init__(self, num_heads: int, hidden_dims: int):
        super().__init__()
        if hidden_dims < 1 or num_heads < 1:
            raise ValueError('DynamicPositionBias needs hidden_dims >= 1 and '
                             f'num_heads >= 1, got hidden_dims={hidden_dims}, '
                             f'num_heads={num_heads}')
        layers: List[nn.Module] = [nn.Linear(2, hidden_dims)]
        for out_dims in (hidden_dims, hidden_dims, num_heads):
            layers += [
                nn.LayerNorm(hidden_dims),
                nn.ReLU(),
                nn.Linear(hidden_dims, out_dims)
            ]
        self.mlp = nn.Sequential(*layers)
        self.num_heads = num_heads
        self._tables: Dict[tuple, tuple] = {}

    def table(self, group: GroupShape) -> torch.Tensor:
        """MLP output for every offset of a (Gh, Gw) group.

        Returns ((2 Gh - 1) * (2 Gw - 1), heads), rows ordered as
        :func:`relative_offsets`.
        """
        weight = self.mlp[0].weight
        offsets = relative_offsets(group, weight.device, weight.dtype)
        params = list(self.parameters())
        if self.training or (torch.is_grad_enabled()
                             and any(p.requires_grad for p in params)):
            return self.mlp(offsets)
        state = [(p, p._version, p.data_ptr()) for p in params]
        device = weight.device.type
        key = (group, torch.get_autocast_dtype(device)
               if torch.is_autocast_enabled(device) else None)
        cached: Optional[tuple] = self._tables.get(key)
        if cached is not None and _same_state(cached[0], state):
            return cached[1]
        with torch.inference_mode(False), torch.no_grad():
            table = self.mlp(offsets)
        self._tables.pop(key, None)
        if len(self._tables) >= self.max_cached_shapes:
            self._tables.pop(next(iter(self._tables)))
        self._tables[key] = (state, table)
        return table

    def forward(self, group: GroupShape) -> torch.Tensor:
        """Bias of a (Gh, Gw) group: (heads, N, N), N = Gh * Gw.

        ``bias[h, i, j] = DPB(pos_i - pos_j)[h]`` for tokens numbered
        row-major (eq. 2).
        """
        n = group[0] * group[1]
        table = self.table(group)
        index = relative_position_index(group, table.device)
        return table.index_select(0, index).view(n, n, -1).permute(2, 0, 1)

    def train(self, mode: bool = True):
        self._tables = {}
        return super().train(mode)

    def _apply(self, fn, *args, **kwargs):
        self._tables = {}
        return super()._apply(fn, *args, **kwargs)


def _same_state(old: list, new: list) -> bool:
    """Whether two ``(param, version, data_ptr)`` lists describe the same
    weights."""
    return len(old) == len(new) and all(
        a[0] is b[0] and a[1:] == b[1:] for a, b in zip(old, new))
