"""Focal Transformer backbone: the focal key set and the attention against a
straightforward reference written from the spec (explicit rolls, window
partitions and unfold), model behaviour, parameters and FLOPs.

Reference behaviour: docs/focal.md. Most tests use a tiny custom arch; the full
variants are only built (parameter counts) or traced at 224x224 (FLOPs).
"""
import logging

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger

from mmvit_backbones.models.backbones import focal
from mmvit_backbones.models.backbones.focal import (FocalTransformer,
                                                    FocalWindowAttention,
                                                    chunked_focal_attention,
                                                    focal_attention,
                                                    focal_key_index,
                                                    full_focal_attention,
                                                    resize_pooled_bias,
                                                    ring_offsets)
from focal_helpers import (ceil_div, official_focal_attention,
                           reference_fine_keys, reference_pooled_keys,
                           window_partition)
from mmvit_backbones.analysis import backbone_complexity, count_params

TINY = dict(embed_dims=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4])
# Spec table: parameters (M, 1000-class head included) and GFLOPs at 224.
SPEC = {
    't': (28.88, 4.92),
    's': (51.14, 9.43),
    'b': (89.82, 16.37),
    't-conv': (30.83, 5.17),
    's-conv': (53.09, 9.68),
    'b-conv': (93.27, 16.80)
}


def tiny(**kwargs):
    kwargs.setdefault('drop_path_rate', 0.)
    model = FocalTransformer(arch=TINY, **kwargs)
    model.init_weights()
    return model.eval()


# ---------------------------------------------------------------- arch zoo


@pytest.mark.parametrize('names', [('t', 'tiny', 'focal-t', 'Focal-T'),
                                   ('s', 'small', 'focal-s'),
                                   ('b', 'base', 'focal-b'),
                                   ('l', 'large', 'focal-l'),
                                   ('t-conv', 'tiny-conv', 'focal-t-conv'),
                                   ('s-conv', 'small-conv', 'focal-s-conv'),
                                   ('b-conv', 'base-conv', 'focal-b-conv')])
def test_arch_aliases(names):
    settings = [FocalTransformer._parse_arch(name) for name in names]
    assert all(s == settings[0] for s in settings)


def test_variants_follow_the_spec():
    zoo = FocalTransformer.arch_zoo
    assert (zoo['t']['embed_dims'], zoo['t']['depths'],
            zoo['t']['drop_path_rate']) == (96, [2, 2, 6, 2], 0.2)
    assert (zoo['s']['depths'], zoo['s']['drop_path_rate']) == ([2, 2, 18,
                                                                 2], 0.3)
    assert (zoo['b']['embed_dims'], zoo['b']['num_heads'],
            zoo['b']['drop_path_rate']) == (128, [4, 8, 16, 32], 0.5)
    assert zoo['l']['embed_dims'] == 196 and not zoo['l']['conv_embed']
    assert zoo['b-conv'] == dict(zoo['b'], conv_embed=True)
    conv = FocalTransformer('t-conv')
    stem = conv.patch_embed.projection
    merge = conv.stages[0].downsample.projection
    assert (stem.kernel_size, stem.stride, stem.padding) == ((7, 7), (4, 4),
                                                             (2, 2))
    assert (merge.kernel_size, merge.stride, merge.padding) == ((3, 3), (2, 2),
                                                                (1, 1))
    plain = FocalTransformer('t')
    assert plain.patch_embed.projection.kernel_size == (4, 4)
    assert plain.stages[2].downsample.projection.kernel_size == (2, 2)
    attn = plain.stages[0].blocks[0].attn
    assert attn.ring_bias.shape == (3, 49, 132)
    assert attn.pooled_bias.shape == (3, 169)
    assert plain.stages[3].blocks[0].attn.ring_bias is None
    assert plain.stages[3].blocks[0].attn.pooled_bias.shape == (24, 49)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(TypeError, match='embed_dims is an int C'):
        FocalTransformer(arch=dict(TINY, embed_dims=[16, 32, 64, 128]))
    with pytest.raises(ValueError, match='focal_windows needs 4'):
        FocalTransformer(arch=TINY, focal_windows=[7, 5, 3])
    with pytest.raises(ValueError, match='positive odd'):
        FocalTransformer(arch=TINY, focal_windows=[7, 5, 4, 1])
    with pytest.raises(ValueError, match='expand_size must be in 0..6'):
        FocalTransformer(arch=TINY, expand_sizes=[3, 3, 7, 0])
    with pytest.raises(ValueError, match='num_heads'):
        FocalTransformer(arch=dict(TINY, num_heads=[3, 2, 2, 4]))


# ------------------------------------------- focal keys: explicit reference


def test_ring_has_132_tokens_120_distinct_in_the_13x13_ring():
    offsets = ring_offsets(7, 3)
    assert offsets.shape == (132, 2)
    distinct = {tuple(o) for o in offsets.tolist()}
    assert len(distinct) == 120
    assert all(-3 <= r < 10 and -3 <= c < 10 for r, c in distinct)
    assert not any(0 <= r < 7 and 0 <= c < 7 for r, c in distinct)
    # the first rolled window (-3, -3) holds the tokens 3 below/right
    assert tuple(offsets[0].tolist()) == (3, 7)


@pytest.mark.parametrize('padded', [(7, 7), (14, 21), (21, 14), (35, 28),
                                    (7, 28)])
@pytest.mark.parametrize('focal_window', [1, 3, 7, 15])
@pytest.mark.parametrize('ring', [True, False])
def test_focal_key_set_matches_rolls_and_unfold(padded, focal_window, ring):
    """Every key slot of every window holds the token the reference puts
    there, including duplicates, cyclic wrap and outside pooled slots."""
    Hp, Wp = padded
    window, expand = 7, 3
    ph, pw = Hp // window, Wp // window
    ids = torch.arange(Hp * Wp + ph * pw, dtype=torch.float64)
    fine_map = ids[:Hp * Wp].view(1, Hp, Wp, 1)
    pooled_map = ids[Hp * Wp:].view(1, ph, pw, 1)
    # +1 so that the unfold's zero padding is told apart from token 0
    fine = reference_fine_keys(fine_map, window, expand, ring)[..., 0]
    pooled, mask = reference_pooled_keys(pooled_map + 1, focal_window)
    pooled = pooled[..., 0] - 1

    index, outside = focal_key_index(padded, window, expand, ring,
                                     focal_window, torch.device('cpu'))
    got = ids[index].view(ph * pw, -1)
    n_fine = fine.shape[1]
    assert n_fine == 49 + 132 * ring
    assert torch.equal(got[:, :n_fine], fine)
    inside = mask == 0
    assert torch.equal(got[:, n_fine:][inside], pooled[inside])
    if outside is None:
        assert inside.all()
    else:
        assert outside.shape == (1, ph * pw, 1, focal_window**2)
        assert torch.equal(outside[0, :, 0] == 0, inside)


# ------------------------------- attention against an explicit reference


def reference_focal_attention(module, x, hw):
    """:func:`official_focal_attention` with the module's weights under the
    authors' names."""
    weights = {
        'pool_layers.0.weight': module.pool.weight,
        'pool_layers.0.bias': module.pool.bias,
        'attn.qkv.weight': module.qkv.weight,
        'attn.qkv.bias': module.qkv.bias,
        'attn.proj.weight': module.proj.weight,
        'attn.proj.bias': module.proj.bias,
        'attn.relative_position_bias_table':
        module.window_bias.relative_position_bias_table,
        'attn.relative_position_bias_table_to_windows.0': module.pooled_bias,
    }
    if module.ring_bias is not None:
        weights['attn.relative_position_bias_table_to_neighbors'] = \
            module.ring_bias[None]
    return official_focal_attention(weights, module.num_heads, x, hw,
                                    module.window_size)


def random_attention(expand, focal_window, heads=4, dims=32):
    module = FocalWindowAttention(dims, heads, 7, expand, focal_window).eval()
    with torch.no_grad():  # biases and pooling far from their init
        for p in (module.window_bias.relative_position_bias_table,
                  module.pooled_bias, module.ring_bias, module.pool.weight,
                  module.pool.bias):
            if p is not None:
                p.copy_(torch.randn_like(p))
    return module


@pytest.mark.parametrize('size', [(14, 14), (9, 11), (5, 6), (3, 1), (7, 30),
                                  (17, 23), (22, 8)])
@pytest.mark.parametrize('expand,focal_window', [(3, 7), (3, 15), (0, 1),
                                                 (3, 3), (2, 5)])
def test_attention_matches_the_explicit_reference(size, expand, focal_window):
    module = random_attention(expand, focal_window)
    x = torch.randn(2, size[0] * size[1], 32)
    with torch.no_grad():
        got = module(x, size)
        expected = reference_focal_attention(module, x, size)
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-4)


def test_attention_gradients_match_the_explicit_reference():
    module = random_attention(3, 5).train()
    x = torch.randn(2, 15 * 16, 32, requires_grad=True)
    grads = []
    for fn in (module, lambda *a: reference_focal_attention(module, *a)):
        module.zero_grad()
        x.grad = None
        fn(x, (15, 16)).square().sum().backward()
        grads.append([x.grad.clone()] +
                     [p.grad.clone() for p in module.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_key_count_per_window_at_224():
    """49 + 132 + fw^2: 230, 206, 190 keys at stages 1-3, 49 + 1 at 4."""
    model = FocalTransformer('t')
    for stage, side, expected in ((0, 56, 230), (1, 28, 206), (2, 14, 190),
                                  (3, 7, 50)):
        attn = model.stages[stage].blocks[0].attn
        ring = stage < 3
        index, outside = focal_key_index((side, side), 7, attn.expand_size,
                                         ring, attn.focal_window,
                                         torch.device('cpu'))
        windows = (side // 7)**2
        assert index.numel() == windows * expected
        assert attn.attention_bias(ring).shape[-1] == expected


# ------------------------------------------------ chunked window attention


def attention_inputs(padded, focal_window, ring, batch=2, heads=3, dims=4,
                     dtype=torch.float64):
    """Random q (B, heads * windows, 49, d), k and v sources (B, heads,
    tokens, d) and bias table for a padded map, with its key index."""
    torch.manual_seed(0)
    index, outside = focal_key_index(padded, 7, 3, ring, focal_window,
                                     torch.device('cpu'))
    windows = padded[0] * padded[1] // 49
    tokens = padded[0] * padded[1] + windows
    keys = index.numel() // windows
    q = torch.randn(batch, heads * windows, 49, dims, dtype=dtype)
    k, v = torch.randn(2, batch, heads, tokens, dims, dtype=dtype)
    table = torch.randn(heads, 49, keys, dtype=dtype)
    return q, k, v, index, outside, table


def full_reference(q, k, v, index, outside, table):
    """Every window's keys, values and bias materialised; explicit softmax."""
    B, G, area, d = q.shape
    heads = table.shape[0]
    k = k.index_select(2, index).view(B, G, -1, d)
    v = v.index_select(2, index).view(B, G, -1, d)
    bias = table[:, None]
    if outside is not None:  # over the last (pooled) keys
        pooled = outside.shape[-1]
        bias = torch.cat([bias[..., :-pooled].expand(-1, G // heads, -1, -1),
                          bias[..., -pooled:] + outside], -1)
    bias = bias.expand(-1, G // heads, -1, -1).reshape(G, area, -1)
    logits = q @ k.transpose(-2, -1) / d**0.5 + bias
    return logits.softmax(-1) @ v


# (padded map, focal window, ring): pooled keys outside the map or none,
# with and without the fine ring
ATTENTION_CASES = [((21, 28), 5, True), ((14, 14), 1, True),
                   ((7, 35), 7, False), ((28, 14), 15, True)]


@pytest.mark.parametrize('padded,focal_window,ring', ATTENTION_CASES)
@pytest.mark.parametrize('chunk_bytes', [1, 5 * 49 * 8, 10**9])
def test_chunked_attention_equals_the_full_form(padded, focal_window, ring,
                                                chunk_bytes):
    """Chunks of one group, of a few groups (crossing heads and images, a
    shorter last one) and of everything give the materialised form, with
    and without gradients (the written-out backward included)."""
    inputs = attention_inputs(padded, focal_window, ring)
    q, k, v, index, outside, table = inputs
    with torch.no_grad():
        expected = full_reference(*inputs)
        got = chunked_focal_attention(*inputs, chunk_bytes=chunk_bytes * 49)
        full = full_focal_attention(*inputs)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(full, expected)

    leaves = [t.clone().requires_grad_() for t in (q, k, v, table)]
    grads = []
    for fn in (full_reference, lambda *a: chunked_focal_attention(
            *a, chunk_bytes=chunk_bytes * 49)):
        for leaf in leaves:
            leaf.grad = None
        out = fn(leaves[0], leaves[1], leaves[2], index, outside, leaves[3])
        out.backward(torch.linspace(-1, 1, out.numel(),
                                    dtype=out.dtype).view(out.shape))
        grads.append([leaf.grad.clone() for leaf in leaves])
    torch.testing.assert_close(out.detach(), expected)
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a)


def test_chunks_give_outside_keys_no_weight_and_no_gradient():
    """Pooled slots outside the map get no weight: their table entries get
    no gradient, and moving them does not change the output."""
    q, k, v, index, outside, table = attention_inputs((21, 21), 7, True)
    assert outside is not None and torch.isinf(outside).any()
    table = table.requires_grad_()
    out = chunked_focal_attention(q, k, v, index, outside, table,
                                  chunk_bytes=7 * 49 * 8 * 49)
    out.sum().backward()
    windows, pooled = outside.shape[1], outside.shape[-1]
    masked = torch.isinf(F.pad(outside.view(windows, -1),
                               (table.shape[-1] - pooled, 0)))  # (windows, N)
    assert masked.all(0).any()  # slots outside the map in every window
    assert (table.grad[:, :, masked.all(0)] == 0).all()
    with torch.no_grad():
        moved = table.clone()
        moved[:, :, masked.all(0)] += 100.
        again = chunked_focal_attention(q, k, v, index, outside, moved,
                                        chunk_bytes=7 * 49 * 8 * 49)
    torch.testing.assert_close(again, out.detach())


@pytest.mark.parametrize('save', [True, False])
def test_attention_operator_passes_torch_library_checks(save):
    """torch.library.opcheck: schema, fake (shape-only) implementation,
    autograd registration and AOTAutograd dispatch of focal_attention."""
    q, k, v, index, outside, table = attention_inputs((14, 21), 3, True,
                                                      batch=1, heads=2,
                                                      dims=2)
    windows = outside.shape[1]
    rows = index.view(windows, -1)
    args = (q.flatten(0, 1).float().requires_grad_(save),
            k.flatten(0, 2).float().requires_grad_(save),
            v.flatten(0, 2).float().requires_grad_(save),
            table.float().requires_grad_(save), rows,
            outside.view(windows, 1, -1).float(), 1 << 12, 0., save)
    torch.library.opcheck(focal_attention, args)


@pytest.mark.parametrize('dropout_p', [0., 0.3])
def test_written_out_backward_passes_gradcheck(dropout_p):
    """focal_attention's written-out backward (dropout too: same mask by
    seed) against finite differences, gradients of q, k, v and the table,
    in chunks of 4 groups."""
    q, k, v, index, outside, table = attention_inputs((14, 21), 3, True,
                                                      batch=1, heads=2,
                                                      dims=2)
    windows = outside.shape[1]
    rows = index.view(windows, -1)
    outside = outside.view(windows, 1, -1)
    leaves = [q.flatten(0, 1), k.flatten(0, 2), v.flatten(0, 2), table]
    leaves = [t.clone().requires_grad_() for t in leaves]
    chunk_bytes = 4 * table.shape[1] * rows.shape[1] * q.element_size()

    def fn(q, k, v, table, dropout_p=dropout_p):
        torch.manual_seed(1)
        return focal_attention(q, k, v, table, rows, outside, chunk_bytes,
                               dropout_p, True)[0]

    assert torch.autograd.gradcheck(fn, leaves, atol=1e-6, fast_mode=True)
    if dropout_p:  # the mask really drops weights: not the dropout-free one
        with torch.no_grad():
            assert not torch.allclose(
                fn(*leaves),
                fn(*leaves, dropout_p=0.))


def test_model_output_and_gradients_do_not_depend_on_the_chunk_size(
        monkeypatch):
    """Training and inference of a whole model with chunks of one group and
    with one chunk per call."""
    model = tiny(expand_sizes=(3, 3, 3, 3), focal_windows=(9, 7, 5, 3))
    x = torch.rand(2, 3, 75, 61)
    results = []
    for chunk_bytes in (1, 1 << 40):
        monkeypatch.setitem(focal.CHUNK_BYTES, 'cpu', chunk_bytes)
        model.zero_grad()
        model.train()
        outs = model(x)
        sum((o * o).sum() for o in outs).backward()
        model.eval()
        with torch.no_grad():
            evals = model(x)
        results.append([o.detach() for o in outs] + list(evals) +
                       [p.grad.clone() for p in model.parameters()
                        if p.grad is not None])
    assert len(results[0]) == len(results[1])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


# ------------------------------------------------------- shapes and state


@pytest.mark.parametrize('size', [(64, 64), (65, 97), (21, 19), (9, 7), (1, 1),
                                  (3, 70)])
def test_output_shapes_any_size(size):
    model = tiny(expand_sizes=(3, 3, 3, 3), focal_windows=(15, 13, 9, 7))
    with torch.no_grad():
        outs = model(torch.rand(2, 3, *size))
    assert len(outs) == 4
    h, w = ceil_div(size[0], 4), ceil_div(size[1], 4)
    for i, out in enumerate(outs):
        assert out.shape == (2, 16 * 2**i, h, w)
        assert out.is_contiguous() and torch.isfinite(out).all()
        h, w = ceil_div(h, 2), ceil_div(w, 2)


def test_out_indices_and_out_norms():
    model = tiny(out_indices=(1, 3))
    assert hasattr(model, 'norm1') and hasattr(model, 'norm3')
    assert not hasattr(model, 'norm0')
    plain = tiny(out_indices=(1, 3), out_norms=False)
    plain.load_state_dict(model.state_dict(), strict=False)
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        outs, raw = model(x), plain(x)
    assert [o.shape[1] for o in outs] == [32, 128]
    for out, ref, norm in zip(outs, raw, (model.norm1, model.norm3)):
        expected = norm(ref.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        torch.testing.assert_close(out, expected)


def test_init_pooling_is_the_mean_and_tables_are_small():
    attn = tiny().stages[0].blocks[0].attn
    torch.testing.assert_close(attn.pool.weight, torch.full((1, 49), 1 / 49))
    assert attn.pool.bias.item() == 0
    assert 0 < attn.ring_bias.std() < 0.05


# ------------------------------------ loading with other focal region sizes


class RecordingHandler(logging.Handler):

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_pretrained_weights_adapt_to_dense_region_sizes(tmp_path):
    handler = RecordingHandler()
    MMLogger.get_current_instance().addHandler(handler)
    source = tiny()
    path = tmp_path / 'classification.pth'
    torch.save({'state_dict': source.state_dict()}, path)
    dense = FocalTransformer(arch=TINY,
                             expand_sizes=(3, 3, 3, 3),
                             focal_windows=(15, 13, 9, 7),
                             init_cfg=dict(type='Pretrained',
                                           checkpoint=str(path)))
    ring_before = dense.stages[3].blocks[0].attn.ring_bias.detach().clone()
    try:
        dense.init_weights()
    finally:
        MMLogger.get_current_instance().removeHandler(handler)
    log = '\n'.join(handler.messages)
    assert 'resized (bilinear) from (1, 169) to (1, 441)' in log
    assert 'stages.3.blocks.0.attn.ring_bias: not in the checkpoint' in log
    src = source.stages[0].blocks[0].attn.pooled_bias
    got = dense.stages[0].blocks[0].attn.pooled_bias
    expected = F.interpolate(src.detach().view(1, 1, 13, 13),
                             size=(21, 21),
                             mode='bilinear',
                             align_corners=False).view(1, 441)
    torch.testing.assert_close(got.detach(), expected)
    stage4 = dense.stages[3].blocks[0].attn
    assert stage4.pooled_bias.shape == (4, 169)
    torch.testing.assert_close(stage4.ring_bias.detach(), ring_before)
    torch.testing.assert_close(dense.stages[1].blocks[0].attn.qkv.weight,
                               source.stages[1].blocks[0].attn.qkv.weight)


def test_resize_pooled_bias_keeps_a_constant_table():
    table = torch.full((2, 49), 0.5)
    torch.testing.assert_close(resize_pooled_bias(table, 169),
                               torch.full((2, 169), 0.5))
    with pytest.raises(ValueError, match='square'):
        resize_pooled_bias(table, 50)


# --------------------------------------------------- against the reference


@pytest.mark.parametrize('arch', list(SPEC))
def test_params_equal_the_spec(arch, paper_tables):
    model = FocalTransformer(arch, out_norms=False)
    channels = model.num_features[-1]
    head = channels * 1000 + 1000
    final_norm = 2 * channels
    params = (count_params(model) + head + final_norm) / 1e6
    assert params == pytest.approx(SPEC[arch][0], rel=1e-3)
    paper = paper_tables['classification'].get(f'focal-{arch}')
    if paper is not None:
        assert params == pytest.approx(paper['exact'], rel=1e-3)


def test_flops_at_224_within_3_percent():
    model = FocalTransformer('t', out_norms=False)
    result = backbone_complexity(model, 224)
    assert not result.significant_uncounted_ops
    gflops = (result.flops + model.num_features[-1] * 1000) / 1e9
    assert gflops == pytest.approx(SPEC['t'][1], rel=0.03)

