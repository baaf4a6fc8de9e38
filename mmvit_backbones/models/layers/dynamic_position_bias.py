"""Dynamic position bias (DPB, CrossFormer section 3.2.2, eq. 2).

An MLP maps the relative offset ``(dh, dw)`` of two tokens of a group to one
bias per head. It is evaluated on the ``(2 Gh - 1)(2 Gw - 1)`` distinct
offsets of a ``Gh x Gw`` group only and the result is gathered for every
query/key pair (the paper's O(G^2) implementation), so it works for any
group shape with a fixed number of weights.
"""
from typing import List, Tuple

import torch
from torch import nn

from .cache import size_cache

GroupShape = Tuple[int, int]


@size_cache()
def relative_offsets(group: GroupShape, device: torch.device,
                     dtype: torch.dtype) -> torch.Tensor:
    """All offsets of a (Gh, Gw) group as floats, dh-major.

    Returns ((2 Gh - 1) * (2 Gw - 1), 2): row ``(dh + Gh - 1) * (2 Gw - 1) +
    dw + Gw - 1`` holds ``(dh, dw)``, dh in [1 - Gh, Gh - 1], dw in
    [1 - Gw, Gw - 1]. Cached (:mod:`.cache`); never modify the result in
    place.
    """
    gh, gw = group
    dh = torch.arange(1 - gh, gh, device=device, dtype=dtype)
    dw = torch.arange(1 - gw, gw, device=device, dtype=dtype)
    grid = (dh[:, None].expand(-1, 2 * gw - 1),
            dw[None, :].expand(2 * gh - 1, -1))
    return torch.stack(grid, -1).view(-1, 2)


@size_cache()
def relative_position_index(group: GroupShape,
                            device: torch.device) -> torch.Tensor:
    """Row of :func:`relative_offsets` for every (query, key) pair.

    Tokens are numbered row-major inside the group; the offset of query i
    and key j is ``pos_i - pos_j`` (Swin's convention). Returns the flat
    (N * N,) index, N = Gh * Gw. Cached (:mod:`.cache`); never modify the
    result in place.
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

    The MLP runs in every call, on the offset table of the group shape
    (which is cached, :mod:`.cache`); its output is derived from the weights
    and so, by the package's caching rule, never cached: the bias always
    follows the current weights, however they were written.

    Args:
        num_heads (int): Attention heads (biases per pair).
        hidden_dims (int): Hidden width D' of the MLP.
    """

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

    def table(self, group: GroupShape) -> torch.Tensor:
        """MLP output for every offset of a (Gh, Gw) group.

        Returns ((2 Gh - 1) * (2 Gw - 1), heads), rows ordered as
        :func:`relative_offsets`.
        """
        weight = self.mlp[0].weight
        return self.mlp(relative_offsets(group, weight.device, weight.dtype))

    def forward(self, group: GroupShape) -> torch.Tensor:
        """Bias of a (Gh, Gw) group: (heads, N, N), N = Gh * Gw.

        ``bias[h, i, j] = DPB(pos_i - pos_j)[h]`` for tokens numbered
        row-major (eq. 2).
        """
        n = group[0] * group[1]
        table = self.table(group)
        index = relative_position_index(group, table.device)
        return table.index_select(0, index).view(n, n, -1).permute(2, 0, 1)
