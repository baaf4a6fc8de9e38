"""Helpers shared by the backbone tests."""
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def randomise_norms(model: nn.Module) -> None:
    """Random norm affine parameters and BatchNorm statistics, so that a
    test notices a norm that is skipped, misplaced, in the wrong mode or
    mixing batch items."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.LayerNorm, _BatchNorm)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            if isinstance(m, _BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.)
