"""CrossFormer / CrossFormer++ backbone, DPB and grouping (the converter:
tests/converters/test_crossformer_convert.py).

Reference behaviour: docs/crossformer.md. Most tests use tiny custom archs; the
full variants are only built (parameter counts) or run at 224x224 for the FLOP
counts.
"""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmvit_backbones.models.backbones.crossformer import (
    CrossFormer, CrossFormerAttention, CrossScaleEmbedding, group_layout,
    has_amplitude_cooling, space_to_depth_conv)
from crossformer_helpers import TINY_V1, tiny
from mmvit_backbones.analysis import backbone_complexity, count_params
from mmvit_backbones.models.layers import DynamicPositionBias

VARIANTS = {
    't': 'crossformer-t', 's': 'crossformer-s', 'b': 'crossformer-b',
    'l': 'crossformer-l', 'pp-s': 'crossformerpp-s', 'pp-b': 'crossformerpp-b',
    'pp-l': 'crossformerpp-l', 'pp-h': 'crossformerpp-h'
}
# GFLOPs of the reference models at 224 (spec table, head included).
SPEC_GFLOPS = {
    't': 2.86, 's': 4.91, 'b': 9.17, 'l': 16.12, 'pp-s': 4.39, 'pp-b': 9.50,
    'pp-l': 16.57, 'pp-h': 21.59
}
def ceil_div(a, b):
    return -(-a // b)


# ---------------------------------------------------------------- arch zoo


@pytest.mark.parametrize('names', [
    ('t', 'tiny', 'crossformer-t'), ('s', 'small', 'crossformer-s', 'S'),
    ('b', 'base', 'crossformer-b'), ('l', 'large', 'crossformer-l'),
    ('pp-s', 'crossformerpp-s', 'crossformer++-s', 'PP-S'),
    ('pp-b', 'crossformerpp-b', 'crossformer++-b'),
    ('pp-l', 'crossformerpp-l', 'crossformer++-l'),
    ('pp-h', 'crossformerpp-h', 'crossformer++-h')
])
def test_arch_aliases(names):
    settings = [CrossFormer._parse_arch(name) for name in names]
    assert all(s == settings[0] for s in settings)


def test_generation_defaults_follow_the_spec():
    v1 = CrossFormer._parse_arch('s')
    v2 = CrossFormer._parse_arch('pp-s')
    assert (v1['group_sizes'], v1['intervals'], v1['lda_mode'],
            v1['amplitude_cooling']) == ([7] * 4, [8, 4, 2, 1], 'image',
                                         False)
    assert (v2['group_sizes'], v2['intervals'], v2['lda_mode'],
            v2['amplitude_cooling']) == ([4, 4, 14, 7], [4, 2, 1, 1],
                                         'region', True)
    model = tiny('v2', lda_mode='image', group_sizes=[5, 5, 5, 5])
    attn = model.stages[0].blocks[1].attn
    assert (attn.lda_mode, attn.group_size, attn.interval) == ('image', 5, 2)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match='intervals needs 4 positive'):
        CrossFormer(arch=TINY_V1, intervals=[4, 2, 0, 1])
    with pytest.raises(TypeError, match='embed_dims is an int C'):
        CrossFormer(arch=dict(TINY_V1, embed_dims=[16, 32, 64, 128]))
    with pytest.raises(ValueError, match='lda_mode'):
        CrossFormer(arch=TINY_V1, lda_mode='dilated')
    with pytest.raises(ValueError, match='adaptive_interval'):
        CrossFormer(arch=TINY_V1, adaptive_interval=True)
    with pytest.raises(ValueError, match='divisible by 8'):
        CrossFormer(arch=dict(TINY_V1, embed_dims=20))
    with pytest.raises(ValueError, match='num_heads'):
        CrossFormer(arch=dict(TINY_V1, num_heads=[3, 2, 2, 4]))
    with pytest.raises(ValueError, match='hidden_dims'):
        CrossFormer(arch=dict(TINY_V1, embed_dims=8, num_heads=[1] * 4))
    with pytest.raises(ValueError, match='even number'):
        CrossFormer(arch=TINY_V1, stem_kernel_sizes=(4, 7))


# ------------------------------------------------------- shapes and state


@pytest.mark.parametrize('generation', ['v1', 'v2'])
@pytest.mark.parametrize('size', [(64, 64), (65, 97), (21, 19), (9, 7),
                                  (1, 1), (3, 70)])
def test_output_shapes_any_size(generation, size):
    model = tiny(generation)
    with torch.no_grad():
        outs = model(torch.rand(2, 3, *size))
    assert len(outs) == 4
    h, w = ceil_div(size[0], 4), ceil_div(size[1], 4)
    for i, out in enumerate(outs):
        assert out.shape == (2, 32 * 2**i, h, w)
        assert torch.isfinite(out).all()
        h, w = ceil_div(h, 2), ceil_div(w, 2)


def test_out_indices_and_optional_out_norms():
    model = tiny(out_indices=(1, 3))
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        plain = model(x)
    assert [o.shape[1] for o in plain] == [64, 256]
    assert not any(n.startswith('norm') for n, _ in model.named_children())
    normed = tiny(out_indices=(1, 3), out_norms=True)
    normed.load_state_dict(model.state_dict(), strict=False)
    assert hasattr(normed, 'norm1') and not hasattr(normed, 'norm0')
    with torch.no_grad():
        outs = normed(x)
    for out, ref, norm in zip(outs, plain, (normed.norm1, normed.norm3)):
        expected = norm(ref.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        torch.testing.assert_close(out, expected)


# ---------------------------------------------------------------- grouping


def test_layouts_at_224_match_the_spec():
    # first generation: G x G tokens with stride I over the whole map
    assert group_layout((56, 56), 7, 8, True, 'image') == group_layout(
        (56, 56), 7, 8, True, 'region')
    layout = group_layout((56, 56), 7, 8, True, 'image')
    assert (layout.group, layout.interval, layout.padded) == ((7, 7), 8,
                                                              (56, 56))
    # CrossFormer++: stage 1 pads 56 to 64, 4x4 groups of stride 4 in 16x16
    layout = group_layout((56, 56), 4, 4, True, 'region')
    assert (layout.padded, layout.regions, layout.group) == ((64, 64), (4, 4),
                                                             (4, 4))
    assert group_layout((28, 28), 4, 2, True, 'region').padded == (32, 32)
    for hw, g in (((14, 14), 14), ((7, 7), 7)):
        assert group_layout(hw, g, 1, True, 'region').group == hw
        assert group_layout(hw, g, 1, False).group == hw
    # first generation at 800x1344, stage 1: 64 groups of 1050 tokens
    layout = group_layout((200, 336), 7, 8, True, 'image')
    assert layout.groups_per_image == 64
    assert layout.group[0] * layout.group[1] == 1050
    # adaptive interval: one region covering the map
    layout = group_layout((200, 336), 4, 16, True, 'region', True)
    assert (layout.interval, layout.regions) == (84, (1, 1))


def reference_attention(module, x, hw):
    """Straightforward LSDA for one image, groups defined by index arithmetic.

    Every query sees the real tokens of its own group; the bias of a pair is
    the DPB MLP evaluated on their offset inside the group.
    """
    H, W = hw
    G, I = module.group_size, module.interval
    heads = module.num_heads
    C = x.shape[-1]
    d = C // heads
    if max(H, W) <= G:
        mode = 'global'
    elif not module.long_distance:
        mode = 'short'
    else:
        mode = module.lda_mode
    if mode == 'region' and module.adaptive_interval:
        I = ceil_div(max(H, W), G)
    span = G * I

    def group_and_position(a, b):
        if mode == 'global':
            return (), (a, b)
        if mode == 'short':
            return (a // G, b // G), (a % G, b % G)
        if mode == 'image':
            return (a % I, b % I), (a // I, b // I)
        return ((a // span, b // span, a % I, b % I),
                ((a % span) // I, (b % span) // I))

    q, k, v = module.qkv(x[0]).view(H, W, 3, heads, d).unbind(2)
    out = torch.zeros(H, W, heads, d)
    tokens = [(a, b) for a in range(H) for b in range(W)]
    for i, j in tokens:
        group, (pi, pj) = group_and_position(i, j)
        keys = [t for t in tokens if group_and_position(*t)[0] == group]
        positions = [group_and_position(*t)[1] for t in keys]
        offsets = torch.tensor([[pi - a, pj - b] for a, b in positions],
                               dtype=torch.float32)
        bias = module.position_bias.mlp(offsets).T
        kk = torch.stack([k[a, b] for a, b in keys], 1)
        vv = torch.stack([v[a, b] for a, b in keys], 1)
        logits = torch.einsum('hd,hnd->hn', q[i, j], kk) / d**0.5 + bias
        out[i, j] = torch.einsum('hn,hnd->hd', logits.softmax(-1), vv)
    return module.proj(out.reshape(1, H * W, C))


GROUPING_CASES = [
    # (size, G, I, long_distance, lda_mode, adaptive_interval)
    ((9, 11), 4, 1, False, 'image', False),
    ((3, 10), 4, 1, False, 'image', False),
    ((4, 3), 4, 1, False, 'image', False),  # fits in a group: global
    ((9, 11), 3, 4, True, 'image', False),
    ((10, 7), 2, 3, True, 'image', False),
    ((3, 10), 2, 4, True, 'image', False),  # groups made only of padding
    ((9, 11), 2, 2, True, 'region', False),
    ((13, 6), 3, 2, True, 'region', False),
    ((5, 17), 3, 2, True, 'region', False),
    ((9, 11), 3, 1, True, 'region', True),
    ((5, 17), 4, 1, True, 'region', True),
    ((6, 6), 7, 8, True, 'region', False),  # fits in a group: global
]


@pytest.mark.parametrize('size,G,I,long_distance,mode,adaptive',
                         GROUPING_CASES)
def test_grouping_matches_loop_reference(size, G, I, long_distance, mode,
                                         adaptive):
    module = CrossFormerAttention(
        128, 4, G, I, long_distance, mode, adaptive_interval=adaptive).eval()
    with torch.no_grad():  # a bias that varies strongly with the offset
        module.position_bias.mlp[-1].weight.mul_(4.)
    x = torch.randn(2, size[0] * size[1], 128)
    got = module(x, size)
    for b in range(2):
        torch.testing.assert_close(
            got[b:b + 1], reference_attention(module, x[b:b + 1], size),
            atol=1e-5, rtol=1e-4)


# --------------------------------------------------------------------- DPB


def test_dpb_equals_explicit_per_pair_evaluation():
    dpb = DynamicPositionBias(num_heads=3, hidden_dims=4)
    gh, gw = 3, 5
    bias = dpb((gh, gw))
    assert bias.shape == (3, gh * gw, gh * gw)
    for i in range(gh * gw):
        for j in range(gh * gw):
            offset = torch.tensor([[i // gw - j // gw, i % gw - j % gw]],
                                  dtype=torch.float32)
            torch.testing.assert_close(bias[:, i, j], dpb.mlp(offset)[0])
    assert dpb.table((gh, gw)).shape == ((2 * gh - 1) * (2 * gw - 1), 3)


def test_dpb_structure_matches_the_spec():
    dpb = DynamicPositionBias(num_heads=3, hidden_dims=6)
    linear = [m for m in dpb.mlp if isinstance(m, torch.nn.Linear)]
    norms = [m for m in dpb.mlp if isinstance(m, torch.nn.LayerNorm)]
    assert [tuple(m.weight.shape) for m in linear] == [(6, 2), (6, 6), (6, 6),
                                                       (3, 6)]
    assert len(norms) == 3 and all(n.eps == 1e-5 for n in norms)
    attn = CrossFormerAttention(96, 3, 7, 8, True)
    assert attn.position_bias.mlp[0].out_features == 96 // 16


def fresh_dpb_bias(dpb, group):
    """The bias computed from the current weights, bypassing any cache."""
    with torch.no_grad():
        offsets = torch.tensor(
            [[dh, dw] for dh in range(1 - group[0], group[0])
             for dw in range(1 - group[1], group[1])],
            dtype=dpb.mlp[0].weight.dtype)
        table = dpb.mlp(offsets)
    n = group[0] * group[1]
    rows = torch.arange(n) // group[1]
    cols = torch.arange(n) % group[1]
    index = ((rows[:, None] - rows[None, :] + group[0] - 1) *
             (2 * group[1] - 1) + cols[:, None] - cols[None, :] + group[1] - 1)
    return table[index].permute(2, 0, 1)


def test_dpb_bias_follows_every_weight_write_without_eval():
    """The DPB table is derived from weights and so never cached
    (models/layers/cache.py): whatever writes the weights, and with no
    ``eval()`` in between, the next call gives the bias of the new weights."""
    dpb = DynamicPositionBias(num_heads=2, hidden_dims=4).eval()
    with torch.no_grad():
        dpb((3, 3))
        dpb.mlp[-1].bias.add_(1.)  # in place: bumps the version
        torch.testing.assert_close(dpb((3, 3)), fresh_dpb_bias(dpb, (3, 3)))
        dpb.load_state_dict(DynamicPositionBias(2, 4).state_dict())
        torch.testing.assert_close(dpb((3, 3)), fresh_dpb_bias(dpb, (3, 3)))
        dpb.double()
        assert dpb((3, 3)).dtype == torch.float64
        torch.testing.assert_close(dpb((3, 3)), fresh_dpb_bias(dpb, (3, 3)))
    # a fused optimizer step does not bump version counters
    dpb = DynamicPositionBias(num_heads=2, hidden_dims=4).eval()
    optimizer = torch.optim.AdamW(dpb.parameters(), lr=0.1, fused=True)
    with torch.no_grad():
        before = dpb((3, 3))
    dpb((3, 3)).sum().backward()
    optimizer.step()
    with torch.no_grad():
        after = dpb((3, 3))
        assert not torch.equal(after, before)
        torch.testing.assert_close(after, fresh_dpb_bias(dpb, (3, 3)))
        # an EMA swap writes through .data (no version bump)
        for p in dpb.parameters():
            p.data.copy_(torch.randn_like(p))
        torch.testing.assert_close(dpb((3, 3)), fresh_dpb_bias(dpb, (3, 3)))
    trained = dpb.train()((3, 3))
    assert trained.requires_grad


def test_model_cache_follows_weight_updates():
    model = tiny('v2')
    x = torch.rand(1, 3, 37, 29)
    with torch.no_grad():
        model(x)
        donor = tiny('v2')
        for p in donor.parameters():
            p.add_(0.01 * torch.randn_like(p))
        model.load_state_dict(donor.state_dict())
        got = model(x)
        expected = copy.deepcopy(donor)(x)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


# --------------------------------------------------------------- CEL, ACL


def test_cross_scale_embedding_matches_the_reference_where_it_applies():
    cel = CrossScaleEmbedding(3, 96, (4, 8, 16, 32), 4)
    assert [p.out_channels for p in cel.projections] == [48, 24, 12, 12]
    assert [p.padding for p in cel.projections] == [(0, 0), (2, 2), (6, 6),
                                                    (14, 14)]
    x = torch.rand(1, 3, 64, 96)
    tokens, hw = cel(x)
    convs = torch.cat([p(x) for p in cel.projections], 1)
    assert hw == (16, 24)
    torch.testing.assert_close(tokens,
                               cel.norm(convs.flatten(2).transpose(1, 2)))
    odd = x[..., :61, :93]
    tokens, hw = cel(odd)
    assert hw == (16, 24)
    padded, _ = cel(F.pad(odd, (0, 3, 0, 3)))
    torch.testing.assert_close(tokens, padded)
    merge = CrossScaleEmbedding(64, 128, (2, 4), 2, norm_first=True)
    assert [p.out_channels for p in merge.projections] == [64, 64]
    assert merge.norm.normalized_shape == (64, )
    _, hw = merge(torch.rand(1, 64, 7, 5))
    assert hw == (4, 3)


@pytest.mark.parametrize('kernel,stride,size', [(32, 4, (64, 96)),
                                                (16, 4, (37, 21)),
                                                (8, 4, (9, 30)),
                                                (4, 2, (11, 6)),
                                                (5, 1, (7, 7))])
def test_space_to_depth_conv_equals_the_strided_conv(kernel, stride, size):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, kernel, stride, padding=(kernel - stride) // 2)
    x = torch.randn(2, 3, *size, requires_grad=True)
    expected = conv(x)
    blocked = space_to_depth_conv(x, conv)
    torch.testing.assert_close(blocked, expected, atol=1e-5, rtol=1e-4)
    grads = torch.autograd.grad(expected.square().sum(), [x, conv.weight])
    blocked_grads = torch.autograd.grad(blocked.square().sum(),
                                        [x, conv.weight])
    for grad, blocked_grad in zip(grads, blocked_grads):
        torch.testing.assert_close(blocked_grad, grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('depth,expected', [(18, [2, 5, 8, 11, 14]),
                                            (6, [2]), (2, []), (3, [])])
def test_amplitude_cooling_placement(depth, expected):
    assert [i for i in range(depth)
            if has_amplitude_cooling(i, depth)] == expected


def test_acl_only_in_crossformerpp_blocks():
    v2 = tiny('v2')
    placed = [(i, j) for i, stage in enumerate(v2.stages)
              for j, block in enumerate(stage.blocks)
              if block.cooling is not None]
    assert placed == [(2, 2)]
    assert all(block.cooling is None for stage in tiny('v1').stages
               for block in stage.blocks)
    plain = CrossFormer('pp-s').stages
    assert [j for j, b in enumerate(plain[2].blocks)
            if b.cooling is not None] == [2, 5, 8, 11, 14]


def test_acl_replaces_tokens_without_skip():
    block = tiny('v2').stages[2].blocks[2]
    x = torch.randn(2, 5 * 6, 128)
    without = copy.deepcopy(block)
    without.cooling = None
    with torch.no_grad():
        y = without(x, (5, 6))
        conv = block.cooling.conv(y.transpose(1, 2).reshape(2, 128, 5, 6))
        expected = block.cooling.norm(conv.flatten(2).transpose(1, 2))
        torch.testing.assert_close(block(x, (5, 6)), expected)


# ------------------------------------------------- training-related options


# --------------------------------------------------- against the reference


@pytest.mark.parametrize('arch', list(VARIANTS))
def test_params_equal_the_reference_models(arch, paper_tables):
    model = CrossFormer(arch)
    channels = model.num_features[-1]
    head = channels * 1000 + 1000
    final_norm = 2 * channels
    params = (count_params(model) + head + final_norm) / 1e6
    exact = paper_tables['classification'][VARIANTS[arch]]['exact']
    assert params == pytest.approx(exact, rel=1e-3)


@pytest.mark.parametrize('arch', ['s', 'pp-s'])
def test_flops_at_224_within_3_percent(arch):
    model = CrossFormer(arch)
    result = backbone_complexity(model, 224)
    head = model.num_features[-1] * 1000
    assert not result.significant_uncounted_ops
    gflops = (result.flops + head) / 1e9
    assert gflops == pytest.approx(SPEC_GFLOPS[arch], rel=0.03)
