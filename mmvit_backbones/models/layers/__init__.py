from .attention import (CrossAttention, MultiheadAttention, attend,
                        merge_heads, split_heads)
from .block import PreNormBlock
from .cache import size_cache
from .conv import Conv2d, DepthwiseConv2d, is_patchwise, patch_linear
from .drop_path import DropPath
from .dynamic_position_bias import DynamicPositionBias
from .embed import ConvEmbed, contiguous_if_symbolic, tokens_to_map
from .mlp import Mlp
from .norm import channel_norm, channel_norm_nhwc
from .position import RelativePositionBias
from .symbolic import is_symbolic
from .window import (ceil_div, crop_map, crop_tokens, needs_padding,
                     pad_image_to_multiple, pad_to_multiple,
                     padding_key_mask, padding_to_multiple, real_region,
                     window_partition, window_reverse)
from .window_attention import ShiftedWindowAttention

__all__ = [
    'CrossAttention', 'MultiheadAttention', 'attend', 'merge_heads',
    'split_heads', 'PreNormBlock', 'Conv2d', 'DepthwiseConv2d', 'DropPath',
    'DynamicPositionBias', 'ConvEmbed', 'contiguous_if_symbolic',
    'tokens_to_map', 'Mlp', 'is_patchwise', 'patch_linear',
    'channel_norm', 'channel_norm_nhwc',
    'RelativePositionBias', 'is_symbolic', 'ceil_div', 'crop_map',
    'crop_tokens',
    'needs_padding',
    'pad_image_to_multiple', 'pad_to_multiple', 'padding_key_mask',
    'padding_to_multiple', 'real_region',
    'window_partition', 'window_reverse', 'ShiftedWindowAttention',
    'size_cache'
]
