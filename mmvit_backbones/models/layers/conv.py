import torch
from torch import nn


class DepthwiseConv2d(nn.Conv2d):
    """Depthwise k x k convolution (groups = channels, 'same' padding for odd
    k) for feature maps that are channels-last views, (B, H, W, C) permuted
    to (B, C, H, W).

    On such inputs torch computes the weight's gradient channels-last: for
    the (C, 1, k, k) weight, strides (k*k, 1, k, 1) instead of the default
    (k*k, k*k, k, 1). Both lay the values out identically (dimension 1 has
    size 1), but DistributedDataParallel compares strides with its gradient
    buckets, warns on every step ("Grad strides do not match bucket view
    strides") and copies the gradient. So the weight is stored with the
    strides its gradient has; ``.to()``, ``load_state_dict`` and in-place
    initialisation keep them, and the state-dict keys are those of
    ``nn.Conv2d``.

    Args:
        channels (int): Input and output channels C.
        kernel_size (int): Odd kernel size k.
    """

    def __init__(self, channels: int, kernel_size: int):
        super().__init__(channels, channels, kernel_size,
                         padding=kernel_size // 2, groups=channels)
        weight = self.weight.detach()
        channels_last = torch.empty_strided(
            weight.shape, (kernel_size**2, 1, kernel_size, 1),
            dtype=weight.dtype, device=weight.device)
        self.weight = nn.Parameter(channels_last.copy_(weight))
