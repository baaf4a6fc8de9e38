"""MixFormer checkpoint converter: synthetic ``.pdparams`` files with the
official keys and shapes, and a forward pass written directly on the official
(PaddlePaddle-layout) weights that the converted model must reproduce.
"""
import math
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from repo_helpers import load_script, read_key_list
from mmvit_backbones.checkpoint import (PADDLE_NAME_TABLE,
                                        UnsafeCheckpointError, load_pdparams)
from mmvit_backbones.converters import MIXFORMER, convert_state_dict
from mmvit_backbones.models.backbones.mixformer import MixFormer

KEY_LIST = 'mixformer-b4_official_paddle'
WINDOW = 7


def load_converter_tool():
    return load_script('tools/model_converters/mixformer2mmvit.py')


def official_key_list():
    """[(key, shape)] of the authors' B4 checkpoint, in file order."""
    return read_key_list(KEY_LIST)


def official_layout(C, depths, heads, classes=1000):
    """[(key, shape)] of an official MixFormer checkpoint, from the spec's
    naming (Paddle Linear weights [in, out], BatchNorm with 4 arrays)."""
    entries = []

    def bn(name, n):
        entries.extend((f'{name}.{p}', (n, ))
                       for p in ('weight', 'bias', '_mean', '_variance'))

    def layer(name, weight, bias):
        entries.extend([(f'{name}.weight', weight), (f'{name}.bias', bias)])

    h = C // 2
    layer('patch_embed.stem.0', (h, 3, 3, 3), (h, ))
    bn('patch_embed.stem.1', h)
    layer('patch_embed.stem.3', (h, h, 3, 3), (h, ))
    bn('patch_embed.stem.4', h)
    layer('patch_embed.stem.6', (h, h, 3, 3), (h, ))
    bn('patch_embed.stem.7', h)
    layer('patch_embed.proj', (C, h, 2, 2), (C, ))
    layer('patch_embed.norm', (C, ), (C, ))
    for i, (depth, n_heads) in enumerate(zip(depths, heads)):
        d = C * 2**i
        for j in range(depth):
            b = f'layers.{i}.blocks.{j}.'
            a = b + 'attn.'
            layer(b + 'norm1', (d, ), (d, ))
            entries.append((a + 'relative_position_bias_table',
                            ((2 * WINDOW - 1)**2, n_heads)))
            entries.append((a + 'relative_position_index',
                            (WINDOW**2, WINDOW**2)))
            layer(a + 'proj_attn', (d, d // 2), (d // 2, ))
            layer(a + 'proj_attn_norm', (d // 2, ), (d // 2, ))
            layer(a + 'proj_cnn', (d, d), (d, ))
            layer(a + 'proj_cnn_norm', (d, ), (d, ))
            layer(a + 'dwconv3x3.0', (d, 1, 3, 3), (d, ))
            bn(a + 'dwconv3x3.1', d)
            layer(a + 'channel_interaction.0', (d // 8, d, 1, 1), (d // 8, ))
            bn(a + 'channel_interaction.1', d // 8)
            layer(a + 'channel_interaction.3', (d // 2, d // 8, 1, 1),
                  (d // 2, ))
            layer(a + 'projection', (d // 2, d, 1, 1), (d // 2, ))
            bn(a + 'conv_norm', d // 2)
            layer(a + 'qkv', (d // 2, 3 * d // 2), (3 * d // 2, ))
            layer(a + 'spatial_interaction.0', (d // 16, d // 2, 1, 1),
                  (d // 16, ))
            bn(a + 'spatial_interaction.1', d // 16)
            layer(a + 'spatial_interaction.3', (1, d // 16, 1, 1), (1, ))
            layer(a + 'attn_norm', (d // 2, ), (d // 2, ))
            layer(a + 'proj', (d, d), (d, ))
            layer(b + 'norm2', (d, ), (d, ))
            layer(b + 'mlp.fc1', (d, 4 * d), (4 * d, ))
            layer(b + 'mlp.fc2', (4 * d, d), (d, ))
        if i < len(depths) - 1:
            layer(f'layers.{i}.downsample.reduction', (2 * d, d, 2, 2),
                  (2 * d, ))
            bn(f'layers.{i}.downsample.norm', d)
    last = C * 2**(len(depths) - 1)
    layer('norm', (last, ), (last, ))
    layer('last_proj', (last, 1280), (1280, ))
    layer('head', (1280, classes), (classes, ))
    return entries


def relative_position_index():
    coords = np.stack(np.meshgrid(np.arange(WINDOW), np.arange(WINDOW),
                                  indexing='ij')).reshape(2, -1)
    rel = coords[:, :, None] - coords[:, None, :] + WINDOW - 1
    return (rel[0] * (2 * WINDOW - 1) + rel[1]).astype(np.int64)


def random_official(entries, seed=0):
    """Random float32 arrays with the given keys/shapes (positive variances,
    the real relative position index) as the authors' file holds them."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in entries:
        if key.endswith('relative_position_index'):
            state[key] = relative_position_index()
        elif key.endswith('_variance'):
            state[key] = rng.uniform(0.5, 2., shape).astype(np.float32)
        elif key.endswith('norm.weight') or '_norm.weight' in key:
            state[key] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            scale = 1. / math.sqrt(max(1, np.prod(shape[:-1] or (1, ))))
            state[key] = (rng.standard_normal(shape) * min(scale, .5)).astype(
                np.float32)
    return state


def write_pdparams(path, state):
    """A file as ``paddle.save(model.state_dict(), path)`` writes it."""
    saved = dict(state)
    saved[PADDLE_NAME_TABLE] = {
        key: f'param_{i}'
        for i, key in enumerate(state)
    }
    with open(path, 'wb') as f:
        pickle.dump(saved, f, protocol=4)


# ------------------------------------------------- the official key list


def test_spec_naming_reproduces_the_official_b4_key_list():
    assert sorted(official_layout(64, [2, 2, 8, 8],
                                  [4, 8, 16, 32])) == sorted(
                                      official_key_list())


def test_converter_on_the_official_b4_key_list(tmp_path, capsys):
    official = random_official(official_key_list())
    src, dst = tmp_path / 'MixFormer_B4.pdparams', tmp_path / 'out' / 'b4.pth'
    write_pdparams(src, official)
    assert load_converter_tool().main([str(src), str(dst)]) == 0
    report = capsys.readouterr().out
    assert 'Architecture: mixformer-b4' in report
    assert 'Unexpected keys, not written: none' in report
    assert 'Missing keys (the model needs them): none' in report
    assert 'Shape mismatches: none' in report
    assert ('attn.relative_position_index x20, final norm x2, last_proj x2, '
            'head x2') in report

    converted = torch.load(dst, weights_only=True)['state_dict']
    MixFormer('b4').load_state_dict(converted, strict=True)
    model = MixFormer(
        'b4', init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model.init_weights()
    state = model.state_dict()
    for key, value in converted.items():
        torch.testing.assert_close(state[key], value)
    block = 'stages.2.blocks.3.attn.'
    official_block = 'layers.2.blocks.3.attn.'
    # Linear [in, out] -> [out, in]
    torch.testing.assert_close(
        state[block + 'qkv.weight'],
        torch.from_numpy(official[official_block + 'qkv.weight']).T)
    # 1x1 convolution -> Linear
    torch.testing.assert_close(
        state[block + 'channel_interaction.fc1.weight'],
        torch.from_numpy(
            official[official_block + 'channel_interaction.0.weight'])[:, :, 0,
                                                                        0])
    # BatchNorm statistics renamed
    torch.testing.assert_close(
        state[block + 'spatial_interaction.norm.running_var'],
        torch.from_numpy(
            official[official_block + 'spatial_interaction.1._variance']))
    torch.testing.assert_close(
        state['patch_embed.norms.2.running_mean'],
        torch.from_numpy(official['patch_embed.stem.7._mean']))
    torch.testing.assert_close(
        state[block + 'position_bias.relative_position_bias_table'],
        torch.from_numpy(
            official[official_block + 'relative_position_bias_table']))


def test_converter_reports_unknown_and_refuses_unsafe_files(tmp_path, capsys):
    tool = load_converter_tool()
    official = random_official(official_layout(16, [1, 1, 2, 1],
                                               [1, 2, 2, 4]))
    official['layers.0.blocks.0.attn.extra.weight'] = np.zeros(
        1, dtype=np.float32)
    src = tmp_path / 'extra.pdparams'
    write_pdparams(src, official)
    assert tool.main([str(src), str(tmp_path / 'out.pth')]) == 1
    report = capsys.readouterr().out
    assert 'Architecture: custom' in report
    assert 'Unexpected keys, not written (1):' in report
    assert 'layers.0.blocks.0.attn.extra.weight' in report

    marker = tmp_path / 'executed'
    with open(src, 'wb') as f:
        pickle.dump({'w': Exploit(str(marker))}, f)
    assert tool.main([str(src), str(tmp_path / 'out.pth')]) == 2
    assert 'refused to unpickle' in capsys.readouterr().err
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError):
        load_pdparams(str(src))

    with open(src, 'wb') as f:
        pickle.dump({'optimizer': {'lr': 1.}}, f)
    assert tool.main([str(src), str(tmp_path / 'out.pth')]) == 2
    assert 'not a .pdparams state dict' in capsys.readouterr().err


class Exploit:
    """A pickle that would run a shell command when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


# ------------------------- forward pass on the official weights


def t(state, key):
    return torch.from_numpy(state[key])


def ln(x, p, name):
    return F.layer_norm(x, x.shape[-1:], t(p, f'{name}.weight'),
                        t(p, f'{name}.bias'), 1e-5)


def bn(x, p, name):
    return F.batch_norm(x, t(p, f'{name}._mean'), t(p, f'{name}._variance'),
                        t(p, f'{name}.weight'), t(p, f'{name}.bias'), False,
                        0., 1e-5)


def linear(x, p, name):
    """Paddle Linear: weight [in, out]."""
    return x @ t(p, f'{name}.weight') + t(p, f'{name}.bias')


def conv(x, p, name, **kwargs):
    return F.conv2d(x, t(p, f'{name}.weight'), t(p, f'{name}.bias'),
                    **kwargs)


def to_windows(x):
    """(B, H, W, C) -> (B * nW, 49, C)."""
    B, H, W, C = x.shape
    x = x.reshape(B, H // WINDOW, WINDOW, W // WINDOW, WINDOW, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, WINDOW * WINDOW, C)


def from_windows(windows, H, W):
    """(B * nW, 49, C) -> (B, C, H, W)."""
    C = windows.shape[-1]
    x = windows.reshape(-1, H // WINDOW, W // WINDOW, WINDOW, WINDOW, C)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(-1, C, H, W)


def official_mixing(p, name, x, Hp, Wp, heads):
    """The authors' MixingAttention on (B * nW, 49, C) windows."""
    C = x.shape[-1]
    a = ln(linear(x, p, f'{name}.proj_attn'), p, f'{name}.proj_attn_norm')
    c = ln(linear(x, p, f'{name}.proj_cnn'), p, f'{name}.proj_cnn_norm')
    c = from_windows(c, Hp, Wp)
    c = F.gelu(
        bn(conv(c, p, f'{name}.dwconv3x3.0', padding=1, groups=C), p,
           f'{name}.dwconv3x3.1'))
    gate = c.mean((2, 3), keepdim=True)
    gate = F.gelu(bn(conv(gate, p, f'{name}.channel_interaction.0'), p,
                     f'{name}.channel_interaction.1'))
    gate = conv(gate, p, f'{name}.channel_interaction.3')
    c = conv(c, p, f'{name}.projection')

    nwin, n, half = a.shape
    d = half // heads
    q, k, v = linear(a, p, f'{name}.qkv').reshape(nwin, n, 3, heads,
                                                   d).permute(2, 0, 3, 1, 4)
    B = gate.shape[0]
    v = (v.reshape(B, -1, heads, n, d) *
         torch.sigmoid(gate).reshape(B, 1, heads, 1, d)).reshape(
             nwin, heads, n, d)
    bias = t(p, f'{name}.relative_position_bias_table')[torch.from_numpy(
        p[f'{name}.relative_position_index']).reshape(-1)].reshape(
            n, n, heads).permute(2, 0, 1)
    attn = (q * d**-0.5) @ k.transpose(-2, -1) + bias
    o = (attn.softmax(-1) @ v).transpose(1, 2).reshape(nwin, n, half)

    s = F.gelu(bn(conv(from_windows(o, Hp, Wp), p,
                       f'{name}.spatial_interaction.0'), p,
                  f'{name}.spatial_interaction.1'))
    s = conv(s, p, f'{name}.spatial_interaction.3')
    c = bn(torch.sigmoid(s) * c, p, f'{name}.conv_norm')
    c = to_windows(c.permute(0, 2, 3, 1))
    mixed = torch.cat([ln(o, p, f'{name}.attn_norm'), c], dim=-1)
    return linear(mixed, p, f'{name}.proj')


def official_block(p, name, x, H, W, heads):
    """The authors' MixingBlock on (B, H * W, C) tokens."""
    B, L, C = x.shape
    y = ln(x, p, f'{name}.norm1').reshape(B, H, W, C)
    y = F.pad(y, (0, 0, 0, -W % WINDOW, 0, -H % WINDOW))
    Hp, Wp = y.shape[1:3]
    y = official_mixing(p, f'{name}.attn', to_windows(y), Hp, Wp, heads)
    y = from_windows(y, Hp, Wp).permute(0, 2, 3, 1)[:, :H, :W]
    x = x + y.reshape(B, L, C)
    h = F.gelu(linear(ln(x, p, f'{name}.norm2'), p, f'{name}.mlp.fc1'))
    return x + linear(h, p, f'{name}.mlp.fc2')


def official_forward(p, x, depths, heads):
    """Stage outputs (B, C_i, H_i, W_i) of the authors' model (eval mode)
    for an input whose sides are multiples of 32."""
    for i in (0, 3, 6):
        x = F.gelu(
            bn(conv(x, p, f'patch_embed.stem.{i}', stride=2 if i == 0 else 1,
                    padding=1), p, f'patch_embed.stem.{i + 1}'))
    x = conv(x, p, 'patch_embed.proj', stride=2)
    B, C, H, W = x.shape
    x = ln(x.flatten(2).transpose(1, 2), p, 'patch_embed.norm')
    outs = []
    for i, depth in enumerate(depths):
        for j in range(depth):
            x = official_block(p, f'layers.{i}.blocks.{j}', x, H, W,
                               heads[i])
        C = x.shape[-1]
        feature = x.transpose(1, 2).reshape(B, C, H, W)
        outs.append(feature)
        if i < len(depths) - 1:
            x = conv(
                bn(feature, p, f'layers.{i}.downsample.norm'), p,
                f'layers.{i}.downsample.reduction', stride=2)
            H, W = x.shape[2:]
            x = x.flatten(2).transpose(1, 2)
    return outs


def test_protocol_2_pdparams_of_numpy_arrays_loads(tmp_path):
    """Protocol 2 writes array bytes through _codecs.encode(str, 'latin1'):
    data, accepted; any other use of _codecs.encode is refused."""
    official = random_official(official_layout(16, [1, 1, 2, 1],
                                               [1, 2, 2, 4]))
    src = tmp_path / 'p2.pdparams'
    with open(src, 'wb') as f:
        pickle.dump(official, f, protocol=2)
    assert b'_codecs' in src.read_bytes()
    loaded = load_pdparams(str(src))
    assert loaded.keys() == official.keys()
    assert all(np.array_equal(loaded[k], official[k]) for k in official)

    class CodecsAbuse:

        def __reduce__(self):
            import _codecs
            return _codecs.encode, (b'x', 'zlib')

    with open(src, 'wb') as f:
        pickle.dump({'w': CodecsAbuse()}, f, protocol=2)
    with pytest.raises(UnsafeCheckpointError, match='_codecs.encode'):
        load_pdparams(str(src))


def test_converter_calls_damaged_or_wrong_files_what_they_are(tmp_path,
                                                               capsys):
    tool = load_converter_tool()
    pth = tmp_path / 'model.pth'
    torch.save({'w': torch.ones(2)}, pth)
    good = tmp_path / 'good.pdparams'
    write_pdparams(good, random_official(official_layout(
        16, [1, 1, 2, 1], [1, 2, 2, 4])))
    files = {
        'empty.pdparams': (b'', 'it is empty (0 bytes)'),
        'random.pdparams': (np.random.default_rng(0).bytes(4096),
                            'truncated or damaged'),
        'truncated.pdparams': (good.read_bytes()[:500],
                               'truncated or damaged'),
        'model.pth': (None, 'is a zip archive (a torch .pth checkpoint?)'),
    }
    for name, (content, expected) in files.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        assert tool.main([str(path), str(tmp_path / 'out.pth')]) == 2, name
        message = capsys.readouterr().err
        assert str(path) in message and expected in message, message
        assert 'Traceback' not in message and 'trust' not in message
    assert not (tmp_path / 'out.pth').exists()


def test_converted_model_reproduces_the_official_forward():
    """Random weights in the authors' layout; their forward pass, written on
    those arrays, against our model loaded from the converted state dict, at
    a size that pads stages 1-4 to the window (16x24 -> 21x28, ...)."""
    depths, heads = [1, 2, 1, 1], [1, 2, 2, 4]
    official = random_official(official_layout(16, depths, heads), seed=1)
    result = convert_state_dict(MIXFORMER, official)
    assert not result.unexpected
    kwargs = MIXFORMER.infer_arch(result.state_dict)
    assert kwargs == dict(
        arch=dict(embed_dims=16, depths=depths, num_heads=heads))
    model = MixFormer(**kwargs).eval()
    model.load_state_dict(result.state_dict, strict=True)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        expected = official_forward(official, x, depths, heads)
        got = model(x)
    assert len(got) == 4
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
