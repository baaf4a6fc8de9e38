import pytest
import torch
import torch.nn.functional as F

from mmvit_backbones.models.backbones.maformer import (
    MAFormer, CrossShapedWindowAttention, GlobalLearningDownsampling)
from mmvit_backbones.models.layers import ShiftedWindowAttention

TINY_ARCH = dict(embed_dims=[16, 32, 48, 64], depths=[1, 2, 1, 1],
                 num_heads=[2, 2, 2, 4])


def tiny(**kwargs):
    kwargs.setdefault('drop_path_rate', 0.)
    model = MAFormer(arch=TINY_ARCH, **kwargs)
    model.init_weights()
    return model.eval()


@pytest.mark.parametrize('alias,name', [('s', 'small'), ('b', 'base'),
                                        ('l', 'large'), ('S', 's')])
def test_arch_aliases(alias, name):
    assert MAFormer._parse_arch(alias) == MAFormer._parse_arch(name)


def test_bad_maformer_options_raise_clear_errors():
    with pytest.raises(ValueError, match='local_attn'):
        MAFormer(arch=TINY_ARCH, local_attn='dilated')
    with pytest.raises(ValueError, match='even'):
        MAFormer(arch=dict(TINY_ARCH, num_heads=[1, 2, 2, 2]))


@pytest.mark.parametrize('local_attn', ['cross_shaped', 'shifted_window'])
@pytest.mark.parametrize('size', [(64, 64), (65, 97), (21, 19), (8, 8),
                                  (800, 1333), (512, 2048)])
def test_output_shapes_any_size(local_attn, size):
    model = tiny(local_attn=local_attn)
    with torch.no_grad():
        outs = model(torch.rand(1, 3, *size))
    assert len(outs) == 4
    h, w = -(-size[0] // 4), -(-size[1] // 4)
    for out, dim in zip(outs, TINY_ARCH['embed_dims']):
        assert out.shape == (1, dim, h, w)
        h, w = -(-h // 2), -(-w // 2)
        assert torch.isfinite(out).all()


def test_init_cfg_pretrained_loads_backbone_prefix(tmp_path):
    source = tiny()
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(10, 64)
    path = tmp_path / 'classifier.pth'
    torch.save({'state_dict': state}, path)
    target = MAFormer(
        arch=TINY_ARCH,
        init_cfg=dict(type='Pretrained', checkpoint=str(path),
                      prefix='backbone.'))
    target.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value)


def reference_stripe_attention(qkv, stripe_width, heads):
    """Explicit per-stripe loop, no padding: (H, W, 3, C) -> (H, W, C)."""
    H, W, _, C = qkv.shape
    out = torch.empty(H, W, C)
    d = C // heads
    for top in range(0, H, stripe_width):
        rows = qkv[top:top + stripe_width].reshape(-1, 3, C)
        q, k, v = (rows[:, i].view(-1, heads, d).transpose(0, 1)
                   for i in range(3))
        attn = (q @ k.transpose(1, 2) / d**0.5).softmax(-1)
        out[top:top + stripe_width] = (attn @ v).transpose(0, 1).reshape(
            -1, W, C)
    return out


@pytest.mark.parametrize('size,stripe', [((7, 9), 2), ((6, 5), 1),
                                         ((5, 8), 3)])
def test_cross_shaped_attention_matches_reference(size, stripe):
    H, W = size
    C, heads = 8, 4
    attn = CrossShapedWindowAttention(C, heads, stripe).eval()
    x = torch.randn(2, H * W, C)
    got = attn(x, (H, W))
    qkv = attn.qkv(x).view(2, H, W, 2, 3, C // 2)
    for b in range(2):
        hor_qkv = qkv[b, :, :, 0]
        ver_qkv = qkv[b, :, :, 1].transpose(0, 1)
        hor = reference_stripe_attention(hor_qkv, stripe, heads // 2)
        ver = reference_stripe_attention(ver_qkv, stripe, heads // 2)
        lepe = []
        for conv, vmap in ((attn.lepe[0], hor_qkv[..., 2, :]),
                           (attn.lepe[1], ver_qkv[..., 2, :])):
            rows = [conv(vmap[t:t + stripe].permute(2, 0, 1)[None])[0]
                    for t in range(0, vmap.shape[0], stripe)]
            lepe.append(torch.cat(rows, dim=1).permute(1, 2, 0))
        hor = hor + lepe[0]
        ver = (ver + lepe[1]).transpose(0, 1)
        expected = attn.proj(torch.cat([hor, ver], -1)).reshape(H * W, C)
        torch.testing.assert_close(got[b], expected, atol=1e-5, rtol=1e-4)


def reference_window_attention(module, x, hw):
    """Explicit loops over the tokens each query may see, for one image.

    A query at (i, j) of an (H, W) map sees the tokens of its window in the
    map rolled by -shift, restricted to tokens that were adjacent to it
    before the roll (no wrap-around across the map border).
    """
    H, W = hw
    ws = module.window[0]
    shift = module.shift if max(H, W) > ws else 0
    Hp, Wp = -(-H // ws) * ws, -(-W // ws) * ws
    C = x.shape[-1]
    heads = module.num_heads
    d = C // heads
    q, k, v = module.qkv(x[0]).view(H, W, 3, heads, d).unbind(2)
    table = module.position_bias()
    out = torch.zeros(H, W, heads, d)

    def rolled(i, j):
        return (i - shift) % Hp, (j - shift) % Wp

    def region(i, j):
        def part(t, size):
            if not shift:
                return 0
            return 0 if t < size - ws else (1 if t < size - shift else 2)
        return part(i, Hp), part(j, Wp)

    for i in range(H):
        for j in range(W):
            ri, rj = rolled(i, j)
            keys = [(a, b) for a in range(H) for b in range(W)
                    if rolled(a, b)[0] // ws == ri // ws
                    and rolled(a, b)[1] // ws == rj // ws
                    and region(a, b) == region(i, j)]
            kk = torch.stack([k[a, b] for a, b in keys], 1)
            vv = torch.stack([v[a, b] for a, b in keys], 1)
            logits = torch.einsum('hd,hnd->hn', q[i, j], kk) / d**0.5
            qi = (ri % ws) * ws + rj % ws
            kidx = [(rolled(a, b)[0] % ws) * ws + rolled(a, b)[1] % ws
                    for a, b in keys]
            logits = logits + table[:, qi, kidx]
            out[i, j] = torch.einsum('hn,hnd->hd', logits.softmax(-1), vv)
    return module.proj(out.reshape(1, H * W, C))


@pytest.mark.parametrize('size', [(9, 11), (4, 4), (8, 8), (3, 10)])
@pytest.mark.parametrize('shift', [False, True])
def test_shifted_window_attention_matches_reference(size, shift):
    module = ShiftedWindowAttention(8, 2, window_size=4, shift=shift).eval()
    x = torch.randn(1, size[0] * size[1], 8)
    torch.testing.assert_close(
        module(x, size), reference_window_attention(module, x, size),
        atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('size', [(56, 56), (7, 5), (200, 334), (1, 1)])
def test_gld_gives_fixed_token_count_for_any_size(size):
    gld = GlobalLearningDownsampling(ref_size=14, ratio=0.5)
    out = gld(torch.rand(2, 6, *size))
    assert out.shape == (2, 100, 6)


def test_gld_pos_term_is_bilinear_and_fc_reads_pooled_grid():
    gld = GlobalLearningDownsampling(ref_size=4, ratio=0.25)
    torch.nn.init.zeros_(gld.fc.weight)
    torch.nn.init.zeros_(gld.fc.bias)
    x = torch.rand(1, 3, 8, 8)
    expected = F.interpolate(x, (2, 2), mode='bilinear', antialias=True)
    torch.testing.assert_close(gld(x), expected.flatten(2).transpose(1, 2))
    torch.nn.init.eye_(gld.fc.weight[:, :4])
    pooled = F.avg_pool2d(x, 2).flatten(2)[..., :4]
    torch.testing.assert_close(
        gld(x) - expected.flatten(2).transpose(1, 2), pooled.transpose(1, 2))
