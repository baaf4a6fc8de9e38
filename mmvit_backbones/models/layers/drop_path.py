"""Stochastic depth of residual branches."""
import torch
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016): in training, the branch of each
    sample is zeroed with probability ``drop_prob`` and the kept ones are
    scaled by ``1 / (1 - drop_prob)``; identity in eval.

    :meth:`add_branch` adds a dropped branch to its residual in one fused
    pass (``addcmul``) instead of the three (divide, mask, add) of
    ``x + drop_path(branch)``.

    Args:
        drop_prob (float): Probability of dropping a sample's branch.
    """

    def __init__(self, drop_prob: float = 0.):
        super().__init__()
        if not 0. <= drop_prob < 1.:
            raise ValueError(f'drop_prob must be in [0, 1), got {drop_prob}')
        self.drop_prob = drop_prob

    def _sample_scale(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, ..., 1): 0 for a dropped sample, 1 / keep for a kept one."""
        keep = 1. - self.drop_prob
        shape = (x.shape[0], ) + (1, ) * (x.dim() - 1)
        return x.new_empty(shape).bernoulli_(keep).div_(keep)

    def _active(self) -> bool:
        return self.training and self.drop_prob > 0.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, ...) -> (B, ...)."""
        return x * self._sample_scale(x) if self._active() else x

    def add_branch(self, x: torch.Tensor,
                   branch: torch.Tensor) -> torch.Tensor:
        """``x + self(branch)`` for tensors of the same shape (B, ...)."""
        if not self._active():
            return x + branch
        return torch.addcmul(x, branch, self._sample_scale(branch))

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'
