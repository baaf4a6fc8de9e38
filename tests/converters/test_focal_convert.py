"""Focal Transformer checkpoint converter on synthetic checkpoints carrying
exactly the official keys and shapes (reference/checkpoint_keys/
focal-t_official.json), and a round trip through official names."""

import pytest
import torch
import torch.nn.functional as F

from focal_helpers import official_focal_attention
from repo_helpers import load_script, read_key_list
from mmvit_backbones.converters import FOCAL, convert_state_dict
from mmvit_backbones.models.backbones.focal import FocalTransformer

KEY_LIST = 'focal-t_official'
INDEX_BUFFERS = ('relative_position_index', 'valid_ind_rolled',
                 'relative_position_index_0')
TINY = dict(embed_dims=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4])


def load_converter_tool():
    return load_script('tools/model_converters/focal2mmvit.py')


def official_state_dict():
    """Random tensors with the exact keys/shapes of the Focal-T key list."""
    state = {}
    for key, shape in read_key_list(KEY_LIST):
        if key.endswith(INDEX_BUFFERS):
            state[key] = torch.zeros(shape, dtype=torch.long)
        else:
            state[key] = torch.randn(shape)
    return state


@pytest.mark.parametrize('wrapped', [True, False])
def test_converter_on_the_official_key_list(tmp_path, capsys, wrapped):
    official = official_state_dict()
    src, dst = tmp_path / 'focal-t.pth', tmp_path / 'out' / 'converted.pth'
    torch.save({'model': official, 'epoch': 300} if wrapped else official,
               src)
    assert load_converter_tool().main([str(src), str(dst)]) == 0
    report = capsys.readouterr().out
    assert 'Architecture: focal-t:' in report
    assert "'expand_sizes': [3, 3, 3, 0]" in report
    assert "'focal_windows': [7, 5, 3, 1]" in report
    assert 'Unexpected keys, not written: none' in report
    assert 'Missing keys (the model needs them): none' in report
    assert 'Shape mismatches: none' in report
    assert 'attn.valid_ind_rolled x10' in report and 'head x2' in report

    converted = torch.load(dst, weights_only=True)['state_dict']
    assert not any(k.endswith(INDEX_BUFFERS) for k in converted)
    FocalTransformer('t', out_indices=(3, )).load_state_dict(
        converted, strict=True)
    model = FocalTransformer(
        't', init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model.init_weights()
    state = model.state_dict()
    for key, value in converted.items():
        torch.testing.assert_close(state[key], value)
    block = 'layers.2.blocks.5.attn.'
    attn = model.stages[2].blocks[5].attn
    torch.testing.assert_close(
        attn.ring_bias, official[block +
                                 'relative_position_bias_table_to_neighbors'][0])
    torch.testing.assert_close(
        attn.pooled_bias,
        official[block + 'relative_position_bias_table_to_windows.0'])
    torch.testing.assert_close(
        attn.window_bias.relative_position_bias_table,
        official[block + 'relative_position_bias_table'])
    torch.testing.assert_close(attn.pool.weight,
                               official['layers.2.blocks.5.pool_layers.0.'
                                        'weight'])
    torch.testing.assert_close(model.norm3.weight, official['norm.weight'])
    torch.testing.assert_close(model.stages[1].downsample.projection.weight,
                               official['layers.1.downsample.proj.weight'])


def test_converter_reports_unknown_keys_and_refuses_other_files(
        tmp_path, capsys):
    official = official_state_dict()
    official['layers.0.blocks.0.attn.extra.weight'] = torch.zeros(1)
    del official['layers.1.blocks.1.mlp.fc2.bias']
    result = convert_state_dict(FOCAL, official)
    assert result.unexpected == ['layers.0.blocks.0.attn.extra.weight']
    assert len(result.dropped) == 12 * 2 + 10 + 2  # 2 buffers x 12, ring x10
    src = tmp_path / 'broken.pth'
    torch.save({'model': official}, src)
    tool = load_converter_tool()
    assert tool.main([str(src), str(tmp_path / 'out.pth')]) == 1
    report = capsys.readouterr().out
    assert 'layers.0.blocks.0.attn.extra.weight' in report
    assert 'stages.1.blocks.1.mlp.fc2.bias' in report
    torch.save({'optimizer': {}}, src)
    assert tool.main([str(src), str(tmp_path / 'out.pth')]) == 2
    assert 'no weights found' in capsys.readouterr().err


def to_official_key(key):
    """Our name -> the authors' name, written out independently of the
    converter's rules."""
    if key.startswith('norm3.'):
        return key.replace('norm3', 'norm')
    key = key.replace('projection', 'proj').replace('stages.', 'layers.')
    return (key.replace('attn.pool.', 'pool_layers.0.').replace(
        'attn.window_bias.relative_position_bias_table',
        'attn.relative_position_bias_table').replace(
            'attn.ring_bias', 'attn.relative_position_bias_table_to_neighbors'
        ).replace('attn.pooled_bias',
                  'attn.relative_position_bias_table_to_windows.0'))


@pytest.mark.parametrize('conv_embed', [False, True])
def test_converted_weights_reproduce_the_same_function(conv_embed):
    """Our keys -> official names and shapes -> converter -> our model."""
    arch = dict(TINY, conv_embed=conv_embed)
    source = FocalTransformer(arch=arch, out_indices=(3, ), drop_path_rate=0.)
    source.init_weights()
    official = {}
    for key, value in source.state_dict().items():
        if key.endswith('ring_bias'):
            value = value[None]
        official[to_official_key(key)] = value
    result = convert_state_dict(FOCAL, official)
    assert not result.unexpected and not result.dropped
    settings = FOCAL.infer_arch(result.state_dict)
    assert settings == dict(
        arch=arch, expand_sizes=[3, 3, 3, 0], focal_windows=[7, 5, 3, 1])
    target = FocalTransformer(
        **settings, out_indices=(3, ), drop_path_rate=0.).eval()
    target.load_state_dict(result.state_dict, strict=True)
    x = torch.rand(1, 3, 60, 44)
    with torch.no_grad():
        torch.testing.assert_close(source.eval()(x), target(x))


def official_forward(official, x, conv_embed):
    """The authors' Focal Transformer up to the final norm, written from the
    spec on their state dict: (B, 3, 224, 224) -> (B, C, 7, 7)."""
    def embed(x, prefix, stride, padding):
        x = F.conv2d(x, official[f'{prefix}.proj.weight'],
                     official[f'{prefix}.proj.bias'], stride, padding)
        C, H, W = x.shape[1:]
        tokens = F.layer_norm(
            x.flatten(2).transpose(1, 2), (C, ),
            official[f'{prefix}.norm.weight'], official[f'{prefix}.norm.bias'])
        return tokens, (H, W)

    def norm(t, weights, name):
        return F.layer_norm(t, t.shape[-1:], weights[f'{name}.weight'],
                            weights[f'{name}.bias'])

    tokens, hw = embed(x, 'patch_embed', 4, 2 if conv_embed else 0)
    for i in range(4):
        j = 0
        while f'layers.{i}.blocks.{j}.norm1.weight' in official:
            prefix = f'layers.{i}.blocks.{j}.'
            block = {
                k[len(prefix):]: v
                for k, v in official.items() if k.startswith(prefix)
            }
            heads = block['attn.relative_position_bias_table'].shape[1]
            tokens = tokens + official_focal_attention(
                block, heads, norm(tokens, block, 'norm1'), hw)
            hidden = F.gelu(
                F.linear(
                    norm(tokens, block, 'norm2'), block['mlp.fc1.weight'],
                    block['mlp.fc1.bias']))
            tokens = tokens + F.linear(hidden, block['mlp.fc2.weight'],
                                       block['mlp.fc2.bias'])
            j += 1
        B, _, C = tokens.shape
        if i < 3:
            grid = tokens.transpose(1, 2).reshape(B, C, *hw)
            tokens, hw = embed(grid, f'layers.{i}.downsample', 2,
                               1 if conv_embed else 0)
    tokens = norm(tokens, official, 'norm')
    return tokens.transpose(1, 2).reshape(B, -1, *hw)


@pytest.mark.parametrize('arch,conv_embed', [('t', False),
                                             (dict(TINY, conv_embed=True),
                                              True)])
def test_converted_model_matches_the_official_forward_at_224(arch, conv_embed):
    """Weights in the authors' layout (tables and pooling far from their
    init) give the same stage-4 output through the converter and our model
    as the spec's model written on the official state dict."""
    source = FocalTransformer(arch=arch, out_indices=(3, ))
    source.init_weights()
    official = {}
    for key, value in source.state_dict().items():
        if key.endswith(('bias_table', 'ring_bias', 'pooled_bias', 'pool.bias',
                         'pool.weight')):
            value = torch.randn_like(value)
        if key.endswith('ring_bias'):
            value = value[None]
        official[to_official_key(key)] = value
    result = convert_state_dict(FOCAL, official)
    model = FocalTransformer(
        **FOCAL.infer_arch(result.state_dict), out_indices=(3, )).eval()
    model.load_state_dict(result.state_dict, strict=True)
    x = torch.rand(1, 3, 224, 224)
    with torch.no_grad():
        expected = official_forward(official, x, conv_embed)
        got, = model(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
