"""CrossFormer / CrossFormer++ checkpoint converter on synthetic checkpoints
carrying exactly the official keys and shapes (reference/checkpoint_keys/
crossformer*-s_official.json), dense-prediction files, and a round trip
through official names."""
import pytest
import torch

from repo_helpers import load_script, read_key_list
from crossformer_helpers import TINY_V2, tiny
from mmvit_backbones.converters import (CROSSFORMER, convert_state_dict,
                                        extract_official_state_dict)
from mmvit_backbones.models.backbones.crossformer import CrossFormer


def load_converter_tool():
    return load_script('tools/model_converters/crossformer2mmvit.py')


def official_state_dict(name):
    """Random tensors with the exact keys/shapes of an official key list."""
    state = {}
    for key, shape in read_key_list(f'{name}_official'):
        if key.endswith('relative_position_index'):
            state[key] = torch.zeros(shape, dtype=torch.long)
        else:
            state[key] = torch.randn(shape)
    return state


@pytest.mark.parametrize('name,arch', [('crossformer-s', 's'),
                                       ('crossformerpp-s', 'pp-s')])
def test_converter_on_the_official_key_lists(tmp_path, capsys, name, arch):
    official = official_state_dict(name)
    src, dst = tmp_path / f'{name}.pth', tmp_path / 'out' / 'converted.pth'
    torch.save({'model': official, 'epoch': 300}, src)
    assert load_converter_tool().main([str(src), str(dst)]) == 0
    report = capsys.readouterr().out
    assert f'Architecture: {name}' in report
    assert 'Unexpected keys, not written: none' in report
    assert 'Missing keys (the model needs them): none' in report
    assert 'head x2' in report and 'final norm x2' in report

    converted = torch.load(dst, weights_only=True)['state_dict']
    CrossFormer(arch).load_state_dict(converted, strict=True)
    model = CrossFormer(
        arch, init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model.init_weights()
    state = model.state_dict()
    for key, value in converted.items():
        torch.testing.assert_close(state[key], value)
    torch.testing.assert_close(
        state['stages.0.blocks.1.attn.position_bias.mlp.3.weight'],
        official['layers.0.blocks.1.attn.pos.pos1.2.weight'])


def test_converter_reports_unknown_keys_and_reads_dense_checkpoints(
        tmp_path, capsys):
    official = official_state_dict('crossformer-s')
    dense = {f'backbone.{k}': v for k, v in official.items()}
    dense['backbone.layers.0.blocks.0.attn.extra.weight'] = torch.zeros(1)
    dense['neck.lateral_convs.0.conv.weight'] = torch.zeros(1)
    backbone, others = extract_official_state_dict({'state_dict': dense})
    assert others == ['neck.lateral_convs.0.conv.weight']
    result = convert_state_dict(CROSSFORMER, backbone)
    assert result.unexpected == ['layers.0.blocks.0.attn.extra.weight']
    assert len(result.dropped) == 2 * 12 + 4
    assert CROSSFORMER.infer_arch(
        result.state_dict)['arch']['depths'] == [2, 2, 6, 2]

    src = tmp_path / 'dense.pth'
    torch.save({'state_dict': dense}, src)
    tool = load_converter_tool()
    assert tool.main([str(src), str(tmp_path / 'out.pth')]) == 1
    report = capsys.readouterr().out
    assert 'layers.0.blocks.0.attn.extra.weight' in report
    assert 'Skipped: 1 keys' in report
    torch.save({'optimizer': {}}, src)
    assert tool.main([str(src), str(tmp_path / 'out.pth')]) == 2
    assert 'no weights found' in capsys.readouterr().err


def test_converted_weights_reproduce_the_same_function():
    """Round trip: our keys -> official names -> converter -> our model."""
    source = tiny('v2')
    official = {}
    for key, value in source.state_dict().items():
        official[to_official_key(key)] = value
    result = convert_state_dict(CROSSFORMER, official)
    assert not result.unexpected
    target = CrossFormer(arch=TINY_V2, drop_path_rate=0.).eval()
    target.load_state_dict(result.state_dict, strict=True)
    x = torch.rand(1, 3, 50, 44)
    with torch.no_grad():
        for a, b in zip(source(x), target(x)):
            torch.testing.assert_close(a, b)


def to_official_key(key):
    """Our name -> the authors' name, written out independently of the
    converter's rules."""
    dpb = {'0': 'pos_proj', '1': 'pos1.0', '3': 'pos1.2', '4': 'pos2.0',
           '6': 'pos2.2', '7': 'pos3.0', '9': 'pos3.2'}
    parts = key.split('.')
    if parts[0] == 'patch_embed':
        return key.replace('projections', 'projs')
    parts[0] = 'layers'
    if parts[2] == 'downsample':
        return '.'.join(parts).replace('projections', 'reductions')
    tail = '.'.join(parts[4:])
    if tail.startswith('attn.position_bias.mlp.'):
        index, param = parts[7], parts[8]
        tail = f'attn.pos.{dpb[index]}.{param}'
    tail = tail.replace('cooling.conv', 'ex_conv').replace(
        'cooling.norm', 'ex_ln')
    return '.'.join(parts[:4] + [tail])

