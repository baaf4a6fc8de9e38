"""Shared building blocks in mmvit_backbones.models.layers."""
import importlib
import pkgutil

import pytest
import torch
import torch.nn.functional as F
from functorch.compile import make_boxed_func
from torch import nn
from torch._dynamo.backends.common import aot_autograd
from torch._inductor.decomposition import select_decomp_table
from torch.profiler import profile

import mmvit_backbones.models
from mmvit_backbones.models.layers import (Conv2d, DropPath, PreNormBlock,
                                           attend, crop_map, is_patchwise,
                                           is_symbolic, pad_to_multiple,
                                           padding_key_mask, patch_linear,
                                           real_region, size_cache)
from mmvit_backbones.models.layers.cache import DEFAULT_MAXSIZE
from mmvit_backbones.models.layers.conv import conv2d_operator
from mmvit_backbones.models.layers.dynamic_position_bias import \
    relative_offsets


def reference_attention(q, k, v, bias):
    scores = q @ k.transpose(-2, -1) / q.shape[-1]**0.5 + bias
    return scores.softmax(-1) @ v


@pytest.mark.parametrize('bias_shape', [(3, 20, 20), (1, 3, 20, 20),
                                        (5, 1, 1, 20), (20, 20)])
def test_attend_matches_explicit_attention(bias_shape):
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 5, 3, 20, 8).unbind(0)
    bias = torch.randn(bias_shape)
    out = attend(q, k, v, bias)
    torch.testing.assert_close(out, reference_attention(q, k, v, bias))


def test_attend_uses_the_fused_kernel_with_a_broadcast_bias():
    """A per-head bias shared by all groups must not force the unfused path
    (it would materialise one attention matrix per group)."""
    q, k, v = torch.randn(3, 4, 2, 64, 16).unbind(0)
    bias = torch.randn(2, 64, 64)
    with torch.inference_mode(), profile() as prof:
        attend(q, k, v, bias)
    kernels = {event.key for event in prof.key_averages()}
    assert '_scaled_dot_product_attention_math' not in ' '.join(kernels)
    assert any('flash_attention' in name for name in kernels), kernels


@pytest.mark.parametrize('bias_shape', [(3, 20, 20), (5, 3, 20, 20)])
def test_attend_with_a_learned_bias_matches_sdpa_in_value_and_gradient(
        bias_shape):
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 5, 3, 20, 8).unbind(0)
    bias = torch.randn(bias_shape)
    inputs = [t.clone().requires_grad_() for t in (q, k, v, bias)]
    out = attend(*inputs)
    grads = torch.autograd.grad(out.square().sum(), inputs)
    fused_inputs = [t.clone().requires_grad_() for t in (q, k, v, bias)]
    q_, k_, v_, bias_ = fused_inputs
    expected = F.scaled_dot_product_attention(
        q_, k_, v_, attn_mask=bias_.expand(5, 3, 20, 20))
    expected_grads = torch.autograd.grad(expected.square().sum(),
                                         fused_inputs)
    torch.testing.assert_close(out, expected)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad)


class ScaleByArgument(torch.nn.Module):
    """A mixer that uses its extra argument, to check it is passed through."""

    def __init__(self, dims):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(dims))

    def forward(self, x, scale):
        return x * self.weight * scale


def test_pre_norm_block_computes_both_residual_branches():
    torch.manual_seed(0)
    block = PreNormBlock(8, ScaleByArgument(8), mlp_ratio=2.).eval()
    x = torch.randn(2, 5, 8)
    mixed = x + block.attn(F.layer_norm(x, (8, ), block.norm1.weight,
                                        block.norm1.bias), 3.)
    expected = mixed + block.mlp(
        F.layer_norm(mixed, (8, ), block.norm2.weight, block.norm2.bias))
    torch.testing.assert_close(block(x, 3.), expected)
    assert [name.split('.')[0] for name in block.state_dict()] == [
        'norm1', 'norm1', 'attn', 'norm2', 'norm2', 'mlp', 'mlp', 'mlp', 'mlp'
    ]


def test_drop_path_drops_whole_samples_and_rescales_the_kept_ones():
    torch.manual_seed(0)
    drop_path = DropPath(0.25).train()
    x = torch.randn(4000, 3, 5)
    out = drop_path(x)
    ratio = out / x
    per_sample = ratio.flatten(1)
    # every sample is either dropped (0) or kept and scaled by 1 / 0.75
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample))
    kept = per_sample[:, 0] != 0
    torch.testing.assert_close(per_sample[kept, 0],
                               torch.full((int(kept.sum()), ), 1 / 0.75))
    assert abs(kept.float().mean().item() - 0.75) < 0.03
    assert torch.equal(drop_path.eval()(x), x)


@pytest.mark.parametrize('training', [True, False])
def test_drop_path_add_branch_equals_adding_the_dropped_branch(training):
    drop_path = DropPath(0.5).train(training)
    x = torch.randn(16, 7, 8, requires_grad=True)
    branch = torch.randn(16, 7, 8, requires_grad=True)
    torch.manual_seed(1)
    fused = drop_path.add_branch(x, branch)
    fused_grads = torch.autograd.grad((fused * fused).sum(), (x, branch))
    torch.manual_seed(1)
    plain = x + drop_path(branch)
    plain_grads = torch.autograd.grad((plain * plain).sum(), (x, branch))
    torch.testing.assert_close(fused, plain)
    torch.testing.assert_close(fused_grads, plain_grads)
    # a strided branch (e.g. a crop of a padded map) works alike
    wide = torch.randn(16, 9, 8)
    torch.manual_seed(2)
    cropped = drop_path.add_branch(x, wide[:, :7])
    torch.manual_seed(2)
    torch.testing.assert_close(cropped, x + drop_path(wide[:, :7]))


def test_drop_path_refuses_a_probability_outside_0_1():
    with pytest.raises(ValueError, match=r'drop_prob must be in \[0, 1\)'):
        DropPath(1.0)


# ------------------------------------------------ the one caching rule


def test_every_cache_of_the_models_follows_the_one_rule():
    """Every cached function of mmvit_backbones.models is built by
    size_cache: bounded, keyed by its arguments, outside inference mode."""
    caches = {}
    package = mmvit_backbones.models
    for info in pkgutil.walk_packages(package.__path__,
                                      package.__name__ + '.'):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if callable(value) and hasattr(value, 'cache_info'):
                caches[f'{info.name}.{name}'] = value
    assert {'padding_bias', 'focal_key_index', 'relative_offsets',
            'padding_key_mask', 'region_mask'} <= {
                name.rsplit('.', 1)[1] for name in caches}
    for name, cache in caches.items():
        assert getattr(cache, 'size_cached', False), name
        assert cache.cache_info().maxsize == DEFAULT_MAXSIZE, name


def test_size_cache_is_bounded_and_keyed_by_every_argument():
    calls = []

    @size_cache(maxsize=2)
    def ramp(n, device, dtype):
        calls.append(n)
        return torch.arange(n, device=device, dtype=dtype)

    cpu = torch.device('cpu')
    assert ramp(3, cpu, torch.float32) is ramp(3, cpu, torch.float32)
    assert ramp(3, cpu, torch.float64).dtype == torch.float64
    assert ramp(3, torch.device('meta'), torch.float32).is_meta
    assert ramp(4, cpu, torch.float32).shape == (4, )
    assert ramp.cache_info().currsize == 2
    assert calls == [3, 3, 3, 4]
    ramp(3, cpu, torch.float32)  # dropped (least recently used): rebuilt
    assert calls == [3, 3, 3, 4, 3]
    for bad in (0, None):
        with pytest.raises(ValueError, match='positive maxsize'):
            size_cache(bad)


def test_cached_tensors_follow_size_device_and_dtype():
    cpu = torch.device('cpu')
    assert relative_offsets((2, 3), cpu, torch.float32).dtype == torch.float32
    assert relative_offsets((2, 3), cpu, torch.float64).dtype == torch.float64
    assert relative_offsets((2, 3), cpu, torch.float32).shape == (15, 2)
    assert relative_offsets((3, 3), cpu, torch.float32).shape == (25, 2)
    mask = padding_key_mask(5, 6, 8, 8, (4, 4), cpu)
    assert mask.shape == (4, 1, 1, 16) and mask.device == cpu
    meta = padding_key_mask(5, 6, 8, 8, (4, 4), torch.device('meta'))
    assert meta.is_meta and meta.shape == mask.shape
    assert padding_key_mask(5, 6, 8, 12, (4, 4), cpu).shape == (6, 1, 1, 16)


def test_a_mask_first_built_in_inference_mode_serves_autograd():
    size_args = (7, 7, 8, 8, (4, 4), torch.device('cpu'))
    padding_key_mask.cache_clear()
    with torch.inference_mode():
        first = padding_key_mask(*size_args)
    assert not first.is_inference()
    logits = torch.zeros(4, 1, 1, 16, requires_grad=True)
    (logits + padding_key_mask(*size_args)).softmax(-1).sum().backward()
    assert logits.grad is not None


def test_padding_key_mask_forbids_exactly_the_padded_keys():
    real = real_region(5, 6, 8, 8, torch.device('cpu'))
    assert real.shape == (1, 8, 8, 1)
    assert real[0, :5, :6].all() and real.sum() == 30
    mask = padding_key_mask(5, 6, 8, 8, (4, 4), torch.device('cpu'))
    # Windows row-major, keys row-major inside a 4 x 4 window.
    expected = real.view(2, 4, 2, 4).transpose(1, 2).reshape(4, 1, 1, 16)
    assert torch.equal(mask == 0, expected)
    assert torch.isneginf(mask[~expected]).all()


def test_padding_and_cropping_compile_to_one_graph_for_any_padding():
    """Traced by AOTAutograd (forward and backward, with Inductor's
    decompositions) with dynamic shapes, a pad to a multiple, a padding
    mask and the crop back give no guard on whether the size needs padding:
    one graph serves sizes that are padded and one that is not, with eager's
    values and gradients."""

    def pad_mask_crop(x):
        B, H, W, C = x.shape
        padded = pad_to_multiple(x, 3, 3)
        Hp, Wp = padded.shape[1:3]
        real = real_region(H, W, Hp, Wp, x.device)
        return crop_map(padded.exp() * real, H, W)

    def run_as_traced(graph, example_inputs):
        return make_boxed_func(graph.forward)

    graphs = []
    traced = aot_autograd(fw_compiler=run_as_traced,
                          bw_compiler=run_as_traced,
                          decompositions=select_decomp_table())

    def backend(graph, example_inputs):
        graphs.append(graph)
        return traced(graph, example_inputs)

    torch._dynamo.reset()
    compiled = torch.compile(pad_mask_crop, backend=backend, fullgraph=True,
                             dynamic=True)
    for size in ((7, 8), (6, 9), (4, 5)):
        x = torch.randn(2, *size, 3, requires_grad=True)
        weights = torch.randn(2, *size, 3)
        out = compiled(x)
        (grad, ) = torch.autograd.grad((out * weights).sum(), x)
        expected = pad_mask_crop(x)
        (expected_grad, ) = torch.autograd.grad((expected * weights).sum(), x)
        assert torch.allclose(out, expected) and out.is_contiguous()
        assert torch.allclose(grad, expected_grad)
    assert len(graphs) == 1
    torch._dynamo.reset()


@pytest.mark.parametrize('in_channels,stride,size', [(3, 4, (8, 12)),
                                                     (6, 2, (6, 4)),
                                                     (5, 1, (3, 2))])
def test_patch_linear_equals_the_convolution(in_channels, stride, size):
    """Values and gradients (input, weight, bias) of the convolution, for a
    channels-last view and a contiguous (B, H, W, C) map."""
    torch.manual_seed(0)
    conv = nn.Conv2d(in_channels, 7, stride, stride).double()
    assert is_patchwise(conv)
    image = torch.randn(2, in_channels, *size, dtype=torch.float64)
    for nhwc in (image.permute(0, 2, 3, 1),
                 image.permute(0, 2, 3, 1).contiguous()):
        grads = []
        for fn in (lambda x: conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1),
                   lambda x: patch_linear(x, conv)):
            x = nhwc.detach().requires_grad_()
            conv.zero_grad()
            out = fn(x)
            out.backward(torch.linspace(-1, 1, out.numel(),
                                        dtype=out.dtype).view(out.shape))
            grads.append((out.detach(), x.grad, conv.weight.grad.clone(),
                          conv.bias.grad.clone()))
        assert grads[0][0].shape == (2, size[0] // stride,
                                     size[1] // stride, 7)
        for a, b in zip(*grads):
            torch.testing.assert_close(b, a)


@pytest.mark.parametrize('stride,padding,dilation,groups,bias', [
    (2, 1, 1, 1, True), (1, 1, 1, 4, False), (3, 2, 2, 2, True)])
def test_conv2d_operator_equals_the_convolution(stride, padding, dilation,
                                                groups, bias):
    """The operator :class:`Conv2d` runs under ``torch.compile``: its
    shapes (fake tensors), autograd registration and values equal
    ``F.conv2d``'s, gradients included."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 9, 11, dtype=torch.float64)
    weight = torch.randn(8, 4 // groups, 3, 3, dtype=torch.float64)
    b = torch.randn(8, dtype=torch.float64) if bias else None
    settings = ([stride] * 2, [padding] * 2, [dilation] * 2, groups)
    torch.library.opcheck(conv2d_operator, (x, weight, b, *settings))
    results = []
    for conv in (conv2d_operator, F.conv2d):
        inputs = [t.detach().requires_grad_() for t in (x, weight, b)
                  if t is not None]
        out = conv(*inputs[:2], inputs[2] if bias else None, *settings)
        out.backward(torch.linspace(-1, 1, out.numel(),
                                    dtype=out.dtype).view(out.shape))
        results.append([out.detach(), *(t.grad for t in inputs)])
    for actual, expected in zip(*results):
        torch.testing.assert_close(actual, expected)


def test_conv2d_exports_as_an_aten_convolution():
    """``torch.export`` (for other runtimes) gets the standard operator, not
    the one :class:`Conv2d` calls under ``torch.compile``."""
    conv = Conv2d(3, 8, 3, stride=2, padding=1)
    program = torch.export.export(conv, (torch.randn(1, 3, 16, 20), ))
    ops = {str(node.target) for node in program.graph.nodes
           if node.op == 'call_function'}
    assert ops == {'aten.conv2d.default'}


def dynamo_graph_ops(fn, inputs, dynamic):
    """Targets of the function and method calls in the graphs Dynamo traces
    of ``fn`` over ``inputs`` (one call each), compiled with ``dynamic``."""
    ops = []

    def backend(graph, example_inputs):
        ops.extend(str(node.target) for node in graph.graph.nodes
                   if node.op in ('call_function', 'call_method'))
        return graph.forward

    torch._dynamo.reset()
    compiled = torch.compile(fn, backend=backend, dynamic=dynamic,
                             fullgraph=True)
    results = [compiled(x) for x in inputs]
    torch._dynamo.reset()
    return ops, results


def test_is_symbolic_only_for_sizes_traced_as_dynamic():
    """Eager mode and a graph compiled for one size take the eager path;
    only symbolic sizes take the path for dynamic shapes."""
    assert not is_symbolic(torch.randn(2, 3), 5)

    def which_path(x):
        H = x.shape[1]
        return torch.tensor([is_symbolic(x), is_symbolic(H), is_symbolic(3)])

    inputs = [torch.randn(2, 5, 7), torch.randn(2, 6, 9)]
    _, static = dynamo_graph_ops(which_path, inputs, dynamic=False)
    _, dynamic = dynamo_graph_ops(which_path, inputs, dynamic=True)
    assert [r.tolist() for r in static] == [[False, False, False]] * 2
    assert [r.tolist() for r in dynamic] == [[True, True, False]] * 2


def test_conv2d_is_the_operator_for_symbolic_sizes_only():
    """Compiled for one size, a convolution stays ``aten``'s (Inductor's
    own lowering, the faster graph); with dynamic shapes it is
    ``mmvit_backbones::conv2d``."""
    conv = Conv2d(3, 8, 3, stride=2, padding=1)
    inputs = [torch.randn(1, 3, 16, 20), torch.randn(1, 3, 17, 23)]
    static, _ = dynamo_graph_ops(conv, inputs[:1], dynamic=False)
    dynamic, outputs = dynamo_graph_ops(conv, inputs, dynamic=True)
    assert not any('mmvit_backbones' in op for op in static)
    assert any('conv2d' in op for op in static)
    assert 'mmvit_backbones.conv2d.default' in dynamic
    for x, out in zip(inputs, outputs):
        torch.testing.assert_close(out, conv(x))


def test_crop_is_a_view_unless_sizes_are_symbolic():
    """A static crop stays a view (no copy in a graph compiled for one
    size); with symbolic sizes it is a gather of rows and columns."""

    def crop(x):
        return crop_map(x, x.shape[1] - 1, x.shape[2] - 2)

    inputs = [torch.randn(2, 6, 7, 3), torch.randn(2, 8, 5, 3)]
    static, _ = dynamo_graph_ops(crop, inputs[:1], dynamic=False)
    dynamic, outputs = dynamo_graph_ops(crop, inputs, dynamic=True)
    assert not any('index_select' in op for op in static)
    assert any('index_select' in op for op in dynamic)
    for x, out in zip(inputs, outputs):
        assert torch.equal(out, x[:, :-1, :-2]) and out.is_contiguous()


def test_conv2d_takes_integer_zero_padding_only():
    with pytest.raises(ValueError, match="padding='same'"):
        Conv2d(3, 4, 3, padding='same')
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        Conv2d(3, 4, 3, padding=1, padding_mode='reflect')


@pytest.mark.parametrize('conv', [
    nn.Conv2d(3, 4, 3, 2), nn.Conv2d(3, 4, 2, 2, padding=1),
    nn.Conv2d(4, 4, 2, 2, groups=2), nn.Conv2d(3, 4, (2, 4), (2, 4))
])
def test_patch_linear_refuses_overlapping_or_padded_kernels(conv):
    assert not is_patchwise(conv)
    with pytest.raises(ValueError, match='kernel equals its stride'):
        patch_linear(torch.randn(1, 8, 8, conv.in_channels), conv)
