"""Channel norms (BatchNorm and friends) applied to maps of any layout and
batch size."""
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def _synchronised(norm: nn.Module) -> bool:
    """Whether ``norm`` is a SyncBatchNorm that sees more than one process
    (and so more than one value per channel)."""
    if not isinstance(norm, nn.SyncBatchNorm) or not dist.is_available() \
            or not dist.is_initialized():
        return False
    group = norm.process_group or dist.group.WORLD
    return dist.get_world_size(group) > 1


def channel_norm(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a channel norm built for NCHW input (BN, SyncBN, GN, ...).

    x: (B, C, H, W) -> (B, C, H, W). A BatchNorm in training mode that sees
    one value per channel (batch size 1 on a 1x1 map, e.g. a globally pooled
    vector) cannot estimate a variance: PyTorch raises there. Such a call
    normalises with the running statistics instead, as in eval mode, and
    leaves them unchanged; the affine parameters still get gradients. A
    SyncBatchNorm spanning several processes gathers values from all of them
    and is used as it is.
    """
    if (isinstance(norm, _BatchNorm) and norm.training
            and norm.running_mean is not None
            and x.numel() == x.shape[1] and not _synchronised(norm)):
        return F.batch_norm(x, norm.running_mean, norm.running_var,
                            norm.weight, norm.bias, False, 0., norm.eps)
    return norm(x)


def channel_norm_nhwc(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """:func:`channel_norm` of a (B, H, W, C) map -> (B, H, W, C).

    The norm runs on the channels-last NCHW view, so no copy is made to
    change the layout.
    """
    return channel_norm(norm, x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
