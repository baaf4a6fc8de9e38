"""MixFormer backbone: arch zoo, shapes, the mixing module against a per-window
reference, BatchNorm handling for dense training, parameters and FLOPs.

Reference behaviour: docs/mixformer.md. Most tests use a tiny custom arch; the
full variants are only built (parameter counts) or run at 224x224 for the FLOP
counts.
"""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from backbone_helpers import randomise_norms
from repo_helpers import read_key_list
from mmvit_backbones.models.backbones.mixformer import (MixFormer,
                                                        MixingAttention,
                                                        MixingBlock)
from mmvit_backbones.models.layers.norm import channel_norm
from mmvit_backbones.analysis import backbone_complexity, count_params

TINY = dict(embed_dims=16, depths=[1, 2, 2, 1], num_heads=[1, 2, 2, 4])
# Backbone-only parameters of the spec table (M). They include the
# BatchNorm running means and variances (PaddlePaddle counts them).
SPEC_BACKBONE_PARAMS = {
    'b0': 3.58, 'b1': 6.29, 'b2': 8.30, 'b3': 14.99, 'b4': 32.88,
    'b5': 59.46, 'b6': 117.30
}


def tiny(**kwargs):
    model = MixFormer(arch=TINY, **kwargs)
    model.init_weights()
    return model.eval()


def ceil_div(a, b):
    return -(-a // b)


# ---------------------------------------------------------------- arch zoo


@pytest.mark.parametrize('index', range(7))
def test_arch_aliases(index):
    names = (f'b{index}', f'B{index}', f'mixformer-b{index}')
    settings = [MixFormer._parse_arch(name) for name in names]
    assert all(s == settings[0] for s in settings)


def test_arch_table_follows_the_spec():
    b4 = MixFormer._parse_arch('b4')
    assert b4 == dict(embed_dims=64, depths=[2, 2, 8, 8],
                      num_heads=[4, 8, 16, 32], drop_path_rate=0.2)
    assert MixFormer._parse_arch('b0')['num_heads'] == [3, 6, 12, 24]
    assert MixFormer._parse_arch('b6')['depths'] == [2, 4, 16, 12]


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(TypeError, match='a positive multiple of 2'):
        MixFormer(arch=dict(TINY, embed_dims=[16, 32, 64, 128]))
    with pytest.raises(ValueError, match='a positive multiple of 2'):
        MixFormer(arch=dict(TINY, embed_dims=15))
    with pytest.raises(ValueError, match='must divide 16 / 2'):
        MixFormer(arch=dict(TINY, num_heads=[3, 2, 2, 4]))
    with pytest.raises(ValueError, match='dwconv_kernel_size'):
        MixFormer(arch=TINY, dwconv_kernel_size=4)


# ------------------------------------------------------- shapes and state


@pytest.mark.parametrize('size', [(64, 64), (65, 97), (21, 19), (9, 7),
                                  (1, 1), (3, 70)])
def test_output_shapes_any_size(size):
    model = tiny()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, *size))
    assert len(outs) == 4
    h, w = ceil_div(size[0], 4), ceil_div(size[1], 4)
    for i, out in enumerate(outs):
        assert out.shape == (2, 16 * 2**i, h, w)
        assert out.is_contiguous()
        assert torch.isfinite(out).all()
        h, w = ceil_div(h, 2), ceil_div(w, 2)


def test_stem_pads_the_image_to_a_multiple_of_4():
    """The reference zero-pads the image before its stem."""
    model = tiny()
    x = torch.rand(1, 3, 29, 38)
    with torch.no_grad():
        odd, hw = model.patch_embed(x)
        padded, padded_hw = model.patch_embed(F.pad(x, (0, 2, 0, 3)))
    assert odd.shape == (1, 8, 10, 16) and hw == padded_hw == (8, 10)
    torch.testing.assert_close(odd, padded)


def test_out_indices_and_optional_out_norms():
    model = tiny(out_indices=(1, 3))
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        plain = model(x)
    assert [o.shape[1] for o in plain] == [32, 128]
    assert not any(n.startswith('norm') for n, _ in model.named_children())
    normed = tiny(out_indices=(1, 3), out_norms=True)
    normed.load_state_dict(model.state_dict(), strict=False)
    assert hasattr(normed, 'norm1') and not hasattr(normed, 'norm0')
    with torch.no_grad():
        normed.norm3.bias.fill_(0.25)
        outs = normed(x)
    for out, ref, norm in zip(outs, plain, (normed.norm1, normed.norm3)):
        expected = norm(ref.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        torch.testing.assert_close(out, expected)


# ------------------------------------------- mixing module vs per-window


def reference_batch_norm(norm, x, training):
    """BatchNorm over (B, C, H, W) written out: batch statistics (biased
    variance) in training mode, running statistics otherwise."""
    if training:
        mean = x.mean((0, 2, 3))
        var = x.var((0, 2, 3), unbiased=False)
    else:
        mean, var = norm.running_mean, norm.running_var
    shape = (1, -1, 1, 1)
    return ((x - mean.view(shape)) / (var.view(shape) + norm.eps).sqrt() *
            norm.weight.view(shape) + norm.bias.view(shape))


def reference_gate(gate, x, training):
    """Interaction gate on an NCHW map: 1x1 convs as per-pixel einsums."""
    h = torch.einsum('bchw,oc->bohw', x, gate.fc1.weight)
    h = h + gate.fc1.bias.view(1, -1, 1, 1)
    h = F.gelu(reference_batch_norm(gate.norm, h, training))
    out = torch.einsum('bchw,oc->bohw', h, gate.fc2.weight)
    return torch.sigmoid(out + gate.fc2.bias.view(1, -1, 1, 1))


def reference_mixing(module, x, training=False):
    """The spec's data flow, one window at a time, NCHW maps, explicit
    softmax attention and relative position offsets.

    x: (B, Hp, Wp, C), sides multiples of the window -> (B, Hp, Wp, C).
    """
    B, Hp, Wp, C = x.shape
    ws = module.window[0]
    heads = module.num_heads
    half = C // 2
    d = half // heads
    windows = [(b, i, j) for b in range(B) for i in range(0, Hp, ws)
               for j in range(0, Wp, ws)]

    # convolution branch on the full map
    cnn = torch.zeros(B, C, Hp, Wp)
    for b, i, j in windows:
        tokens = x[b, i:i + ws, j:j + ws].reshape(ws * ws, C)
        proj = module.proj_cnn_norm(module.proj_cnn(tokens))
        cnn[b, :, i:i + ws, j:j + ws] = proj.T.reshape(C, ws, ws)
    cnn = F.conv2d(cnn, module.dwconv.weight, module.dwconv.bias,
                   padding=module.dwconv.padding, groups=C)
    cnn = F.gelu(reference_batch_norm(module.dwconv_norm, cnn, training))
    channel_gate = reference_gate(module.channel_interaction,
                                  cnn.mean((2, 3), keepdim=True), training)
    cnn = torch.einsum('bchw,oc->bohw', cnn, module.projection.weight)
    cnn = cnn + module.projection.bias.view(1, -1, 1, 1)

    # attention branch, window by window
    table = module.position_bias.relative_position_bias_table
    attn = torch.zeros(B, half, Hp, Wp)
    for b, i, j in windows:
        tokens = x[b, i:i + ws, j:j + ws].reshape(ws * ws, C)
        a = module.proj_attn_norm(module.proj_attn(tokens))
        q, k, v = module.qkv(a).split(half, dim=-1)
        v = v * channel_gate[b, :, 0, 0]
        out = torch.zeros(ws * ws, half)
        for h in range(heads):
            ch = slice(h * d, (h + 1) * d)
            logits = q[:, ch] @ k[:, ch].T / math.sqrt(d)
            for n in range(ws * ws):
                for m in range(ws * ws):
                    dy = n // ws - m // ws + ws - 1
                    dx = n % ws - m % ws + ws - 1
                    logits[n, m] = logits[n, m] + table[dy * (2 * ws - 1) +
                                                        dx, h]
            out[:, ch] = logits.softmax(-1) @ v[:, ch]
        attn[b, :, i:i + ws, j:j + ws] = out.T.reshape(half, ws, ws)

    # spatial interaction, concatenation, projection
    cnn = cnn * reference_gate(module.spatial_interaction, attn, training)
    cnn = reference_batch_norm(module.conv_norm, cnn, training)
    attn = module.attn_norm(attn.permute(0, 2, 3, 1))
    mixed = torch.cat([attn, cnn.permute(0, 2, 3, 1)], dim=-1)
    return module.proj(mixed)


@pytest.mark.parametrize('training', [False, True])
def test_mixing_module_matches_per_window_reference(training):
    module = MixingAttention(32, num_heads=2, window_size=3)
    randomise_norms(module)
    with torch.no_grad():  # a bias that varies strongly with the offset
        module.position_bias.relative_position_bias_table.normal_(std=2.)
    module.train(training)
    x = torch.randn(2, 6, 9, 32)
    got = module(x)  # with autograd: attend's path for a learned bias
    with torch.no_grad():
        expected = reference_mixing(module, x, training)
    torch.testing.assert_close(got.detach(), expected, atol=1e-5, rtol=1e-4)


def test_both_interaction_gates_reach_the_output():
    """Shifting either gate's output changes the module's output (the
    reference comparison above covers where each gate acts)."""
    module = MixingAttention(32, num_heads=2, window_size=3).eval()
    randomise_norms(module)
    x = torch.randn(1, 6, 6, 32)
    with torch.no_grad():
        base = module(x)
        for gate in ('channel_interaction', 'spatial_interaction'):
            changed = copy.deepcopy(module)
            getattr(changed, gate).fc2.bias.add_(3.)
            assert not torch.allclose(changed(x), base, atol=1e-4)


def test_block_pads_after_the_norm_and_crops():
    """Padded positions are zero tokens after norm1, visible to every branch
    (no mask), and the output is cropped back (spec, Mixing block)."""
    block = MixingBlock(32, num_heads=2, window_size=4).eval()
    randomise_norms(block)
    x = torch.randn(2, 5, 7, 32)
    with torch.no_grad():
        got = block(x, (5, 7))
        normed = F.pad(block.norm1(x), (0, 0, 0, 1, 0, 3))
        mixed = reference_mixing(block.attn, normed)[:, :5, :7]
        y = x + mixed
        expected = y + block.mlp(block.norm2(y))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------- BatchNorm


def test_channel_norm_uses_running_stats_for_a_single_value():
    norm = nn.BatchNorm2d(4).train()
    with torch.no_grad():
        norm.running_mean.fill_(0.5)
        norm.running_var.fill_(4.)
        norm.weight.fill_(2.)
    single = torch.randn(1, 4, 1, 1, requires_grad=True)
    out = channel_norm(norm, single)
    torch.testing.assert_close(out, (single - 0.5) / math.sqrt(4 + 1e-5) * 2)
    assert norm.running_mean.eq(0.5).all()  # not updated
    out.sum().backward()
    assert norm.weight.grad is not None and single.grad is not None
    several = torch.randn(2, 4, 1, 1)
    torch.testing.assert_close(channel_norm(norm, several), norm(several))
    assert not norm.running_mean.eq(0.5).all()


@pytest.mark.parametrize('size', [(40, 36), (3, 3), (1, 1)])
def test_batch_size_1_trains(size):
    model = tiny().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stats = model.stages[0].blocks[0].attn.dwconv_norm.running_mean.clone()
    outs = model(torch.rand(1, 3, *size))
    sum(o.square().mean() for o in outs).backward()
    optimizer.step()
    assert all(torch.isfinite(o).all() for o in outs)
    assert not [n for n, p in model.named_parameters() if p.grad is None]
    assert not torch.equal(
        stats, model.stages[0].blocks[0].attn.dwconv_norm.running_mean)


def test_norm_eval_keeps_batchnorms_in_eval_mode():
    model = tiny(norm_eval=True).train()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 3 + 4 * sum(TINY['depths']) + 3
    assert not any(m.training for m in norms)
    assert model.stages[0].blocks[0].norm1.training
    before = copy.deepcopy(model.state_dict())
    outs = model(torch.rand(2, 3, 32, 32))
    sum(o.mean() for o in outs).backward()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key])
    assert model.stages[0].blocks[0].attn.conv_norm.weight.grad is not None


def test_frozen_batchnorm_config():
    model = tiny(
        norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True).train()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert not m.training
            assert not any(p.requires_grad for p in m.parameters())
    assert model.stages[1].blocks[0].attn.qkv.weight.requires_grad


def test_syncbn_builds_and_reverts():
    from mmengine.model import revert_sync_batchnorm
    model = tiny(norm_cfg=dict(type='SyncBN'))
    norms = [m for m in model.modules() if isinstance(m, nn.SyncBatchNorm)]
    assert len(norms) == 3 + 4 * sum(TINY['depths']) + 3
    reverted = revert_sync_batchnorm(model).train()
    outs = reverted(torch.rand(1, 3, 20, 20))
    sum(o.mean() for o in outs).backward()


# ------------------------------------------------- training-related options


# --------------------------------------------------- against the spec


def official_param_count(name):
    """Trainable backbone parameters in an official key list."""
    total = 0
    for key, shape in read_key_list(f'{name}_official_paddle'):
        if key.startswith(('norm.', 'last_proj.', 'head.')) or key.endswith(
                ('_mean', '_variance', 'relative_position_index')):
            continue
        total += math.prod(shape)
    return total


@pytest.mark.parametrize('arch', list(SPEC_BACKBONE_PARAMS))
def test_params_equal_the_spec(arch):
    model = MixFormer(arch)
    statistics = sum(
        b.numel() for n, b in model.named_buffers()
        if n.endswith(('running_mean', 'running_var')))
    params = (count_params(model) + statistics) / 1e6
    assert params == pytest.approx(SPEC_BACKBONE_PARAMS[arch], rel=1e-3)


def test_trainable_params_equal_the_official_checkpoint():
    assert count_params(MixFormer('b4')) == official_param_count(
        'mixformer-b4')


def test_whole_model_params_match_paper_tables(paper_tables):
    """Backbone + BatchNorm statistics + the classification tail (final LN,
    Linear(8C, 1280), Linear(1280, 1000)) against the 'exact' column."""
    for arch in ('b1', 'b4'):
        model = MixFormer(arch)
        C = model.num_features[-1]
        tail = 2 * C + C * 1280 + 1280 + 1280 * 1000 + 1000
        statistics = sum(
            b.numel() for n, b in model.named_buffers()
            if n.endswith(('running_mean', 'running_var')))
        whole = (count_params(model) + statistics + tail) / 1e6
        exact = paper_tables['classification'][f'mixformer-{arch}']['exact']
        assert whole == pytest.approx(exact, rel=1e-3)


@pytest.mark.parametrize('arch', ['b1', 'b4'])
def test_flops_at_224_within_5_percent(arch, paper_tables):
    model = MixFormer(arch)
    result = backbone_complexity(model, 224)
    assert not result.significant_uncounted_ops
    C = model.num_features[-1]
    tail = 7 * 7 * C * 1280 + 1280 * 1000  # last_proj on 7x7 tokens, head
    gflops = (result.flops + tail) / 1e9
    expected = paper_tables['classification'][f'mixformer-{arch}']['flops']
    assert gflops == pytest.approx(expected, rel=0.05)

