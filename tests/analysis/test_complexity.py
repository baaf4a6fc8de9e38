"""Tests for FLOP/parameter counting and the two analysis tools."""
import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from repo_helpers import load_script
from mmvit_backbones.analysis import (analyze_module, backbone_complexity,
                                     build_backbone, fixed_proposals,
                                     model_complexity, parse_backbone_spec,
                                     parse_dict_expression)


def load_tool(name: str):
    """Import ``tools/analysis_tools/<name>.py`` as a module."""
    return load_script(f'tools/analysis_tools/{name}.py')


class Attention(nn.Module):
    """Multi-head attention on precomputed q/k/v, fused or explicit.

    Args:
        fused (bool): Use ``F.scaled_dot_product_attention`` if True, else
            ``softmax(q @ k^T * scale + mask) @ v`` with explicit matmuls.
    """

    def __init__(self, fused: bool) -> None:
        super().__init__()
        self.fused = fused

    def forward(self, q, k, v, mask):
        """q (B, h, Lq, d), k (B, h, Lk, d), v (B, h, Lk, dv), mask (Lq,
        Lk)."""
        if self.fused:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        scores = q @ k.transpose(-2, -1) * q.shape[-1]**-0.5 + mask
        return scores.softmax(dim=-1) @ v


@pytest.mark.parametrize('lq,lk,d,dv', [(16, 16, 8, 8), (12, 20, 8, 4)])
def test_sdpa_counted_like_explicit_attention(lq, lk, d, dv):
    q = torch.randn(2, 3, lq, d)
    k = torch.randn(2, 3, lk, d)
    v = torch.randn(2, 3, lk, dv)
    mask = torch.randn(lq, lk)
    fused = analyze_module(Attention(True), (q, k, v, mask))
    explicit = analyze_module(Attention(False), (q, k, v, mask))
    assert fused.flops == explicit.flops == 2 * 3 * lq * lk * (d + dv)
    assert 'aten::scaled_dot_product_attention' not in fused.uncounted_ops


def test_sdpa_counted_without_mask_and_with_bool_mask():
    q = torch.randn(1, 4, 10, 8)
    expected = 4 * 10 * 10 * 16

    class Fused(nn.Module):

        def forward(self, q):
            plain = F.scaled_dot_product_attention(q, q, q)
            masked = F.scaled_dot_product_attention(
                q, q, q, attn_mask=torch.ones(10, 10, dtype=torch.bool))
            return plain, masked

    assert analyze_module(Fused(), q).flops == 2 * expected


class OneOp(nn.Module):
    """Applies ``fn`` to its inputs; a probe for a single traced op."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *inputs):
        return self.fn(*inputs)


def _op_cases():
    """(name, module, inputs, expected MACs) for each op with a FLOP handle."""
    x = torch.randn(2, 5, 6)
    y = torch.randn(2, 6, 7)
    return [
        ('linear', nn.Linear(6, 4), (x, ), 2 * 5 * 6 * 4),
        ('conv', nn.Conv2d(3, 8, 3, padding=1), (torch.randn(
            2, 3, 10, 10), ), 2 * 8 * 3 * 9 * 100),
        ('conv_transpose', nn.ConvTranspose2d(4, 2, 2, stride=2),
         (torch.randn(1, 4, 5, 5), ), 4 * 2 * 4 * 25),
        ('matmul', OneOp(torch.matmul), (x, y), 2 * 5 * 6 * 7),
        ('matmul_broadcast', OneOp(torch.matmul), (x[0], y), 2 * 5 * 6 * 7),
        ('mm', OneOp(torch.mm), (x[0], y[0]), 5 * 6 * 7),
        ('bmm', OneOp(torch.bmm), (x, y), 2 * 5 * 6 * 7),
        ('baddbmm', OneOp(lambda a, b: torch.baddbmm(
            torch.zeros(2, 5, 7), a, b)), (x, y), 2 * 5 * 6 * 7),
        ('einsum', OneOp(lambda a, b: torch.einsum('bij,bjk->bik', a, b)),
         (x, y), 2 * 5 * 6 * 7),
        ('einsum_ellipsis',
         OneOp(lambda a, b: torch.einsum('...ij,...jk', a, b)), (x, y),
         2 * 5 * 6 * 7),
        # 20x30 -> 5x10, antialiased: along W (scale 3, support 3 -> 7
        # taps) on 20 rows, then along H (scale 4, support 4 -> 9 taps).
        ('resize_antialias', OneOp(lambda a: F.interpolate(
            a, (5, 10), mode='bilinear', antialias=True)),
         (torch.randn(1, 2, 20, 30), ), 2 * (20 * 10 * 7 + 5 * 10 * 9)),
        # (5x6)(6x7)(7x6): the cheapest order contracts the first pair.
        ('einsum_three', OneOp(lambda a, b: torch.einsum(
            'ij,jk,kl->il', a[0], b[0], b[0].t())), (x, y),
         min(5 * 6 * 7 + 5 * 7 * 6, 6 * 7 * 6 + 5 * 6 * 6)),
    ]


@pytest.mark.parametrize('name,module,inputs,expected', _op_cases(),
                         ids=[case[0] for case in _op_cases()])
def test_ops_counted_exactly(name, module, inputs, expected):
    result = analyze_module(module, inputs)
    assert result.flops == expected
    assert not result.significant_uncounted_ops


def test_uncounted_ops_are_listed():

    class Custom(torch.autograd.Function):

        @staticmethod
        def forward(ctx, x):
            return x * 2

    result = analyze_module(OneOp(lambda x: Custom.apply(x) + 1),
                            torch.randn(3))
    assert result.flops == 0
    assert 'aten::add' in result.uncounted_ops
    assert 'aten::add' not in result.significant_uncounted_ops
    assert any('Custom' in op for op in result.significant_uncounted_ops)


def test_swin_t_matches_published_complexity():
    # Swin-T (Liu et al. 2021): 4.5 GFLOPs and 28.3M params at 224x224 with
    # the 1000-class head (768 * 1000 + 1000 params, 0.77 MFLOPs). The
    # mmdet backbone has no head but adds one LayerNorm per output stage.
    result = backbone_complexity('swin-t', 224)
    head_params = 768 * 1000 + 1000
    out_norm_params = 2 * (96 + 192 + 384)
    assert result.input_shape == (1, 3, 224, 224)
    assert result.flops / 1e9 == pytest.approx(4.5, abs=0.05)
    assert (result.params + head_params - out_norm_params) / 1e6 == \
        pytest.approx(28.3, abs=0.05)
    assert not result.significant_uncounted_ops


def test_backbone_spec_forms():
    assert parse_backbone_spec('MAFormer:s') == dict(type='MAFormer', arch='s')
    assert parse_backbone_spec('dict(type="MAFormer", arch="s")') == dict(
        type='MAFormer', arch='s')
    assert parse_backbone_spec('Swin-T')['type'] == 'SwinTransformer'
    assert parse_dict_expression(
        "{'type': 'ResNet', 'depth': 18, 'out_indices': (3, )}") == dict(
            type='ResNet', depth=18, out_indices=(3, ))
    with pytest.raises(ValueError, match='only dict'):
        parse_dict_expression('dict(type=__import__("os"))')
    with pytest.raises(ValueError, match='not a preset'):
        parse_backbone_spec('resnet')


def test_unknown_backbone_lists_registered_ones():
    with pytest.raises(KeyError) as err:
        build_backbone(dict(type='NoSuchNet'))
    assert 'SwinTransformer' in str(err.value)
    assert 'MAFormer' in str(err.value)


def _retinanet_r18_config(tmp_path: Path) -> Path:
    """A RetinaNet with ResNet-18 config file based on mmdet's."""
    config = tmp_path / 'retinanet_r18.py'
    config.write_text(
        "_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'\n"
        'model = dict(\n'
        '    backbone=dict(depth=18, init_cfg=None),\n'
        '    neck=dict(in_channels=[64, 128, 256, 512]))\n')
    return config


def test_single_stage_detector_counted(tmp_path):
    result = model_complexity(_retinanet_r18_config(tmp_path), (60, 64))
    # mmdet pads inputs to a multiple of 32 at test time.
    assert result.input_shape == (1, 3, 64, 64)
    resnet18 = backbone_complexity(
        dict(type='ResNet', depth=18, out_indices=(0, 1, 2, 3)), 64)
    assert result.flops > resnet18.flops > 0
    assert result.params > resnet18.params
    assert not result.significant_uncounted_ops


def _mask_rcnn_r18_options(num_proposals: int) -> dict:
    """cfg_options turning mmdet's Mask R-CNN R-50 into a small R-18 one."""
    return {
        'model.backbone.depth': 18,
        'model.backbone.init_cfg': None,
        'model.neck.in_channels': [64, 128, 256, 512],
        'model.test_cfg.rpn.max_per_img': num_proposals,
    }


def test_two_stage_detector_uses_fixed_proposals():
    config = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
    few = model_complexity(config, 64, _mask_rcnn_r18_options(4))
    more = model_complexity(config, 64, _mask_rcnn_r18_options(8))
    assert any('4 fixed proposals' in note for note in few.notes)
    # Per RoI: bbox head fc 12544->1024->1024, cls 1024->81, reg 1024->320;
    # mask head 4 3x3 convs 256->256 on 14x14, 2x2 deconv, 1x1 conv to 80.
    bbox_head = 12544 * 1024 + 1024 * 1024 + 1024 * 81 + 1024 * 320
    mask_head = (4 * 256 * 256 * 9 * 14 * 14 + 256 * 256 * 4 * 14 * 14 +
                 256 * 80 * 28 * 28)
    assert more.flops - few.flops == 4 * (bbox_head + mask_head)
    assert few.params == more.params


def test_cascade_mask_heads_counted_on_test_time_detections():
    """Cascade heads run every stage's mask head on all proposals in tensor
    mode; inference runs them on at most rcnn.max_per_img detections."""
    config = 'mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py'

    def count(detections):
        options = dict(
            _mask_rcnn_r18_options(8),
            **{'model.test_cfg.rcnn.max_per_img': detections})
        return model_complexity(config, 64, options)

    two, four = count(2), count(4)
    assert any('counted on 2 of the 8 RoIs' in note for note in two.notes)
    mask_head = (4 * 256 * 256 * 9 * 14 * 14 + 256 * 256 * 4 * 14 * 14 +
                 256 * 80 * 28 * 28)
    assert four.flops - two.flops == 3 * 2 * mask_head


def test_fixed_proposals_are_deterministic_and_inside_image():
    boxes = fixed_proposals(50, 40, 60)
    assert torch.equal(boxes, fixed_proposals(50, 40, 60))
    assert boxes.shape == (50, 4)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= 60).all()
    assert (boxes[:, 3] <= 40).all()
    assert (boxes[:, 2:] > boxes[:, :2]).all()


def test_segmentor_counted():
    config = dict(
        default_scope='mmseg',
        model=dict(
            type='EncoderDecoder',
            backbone=dict(type='ResNetV1c', depth=18, out_indices=(3, )),
            decode_head=dict(
                type='FCNHead',
                in_channels=512,
                channels=64,
                in_index=0,
                num_convs=1,
                concat_input=False,
                num_classes=4),
            test_cfg=dict(mode='whole')))
    result = model_complexity(config, (64, 96))
    assert result.input_shape == (1, 3, 64, 96)
    # FCNHead: one 3x3 conv 512->64 and a 1x1 classifier on the 2x3
    # stride-32 map.
    head = 2 * 3 * (512 * 64 * 9 + 64 * 4)
    backbone = backbone_complexity(
        dict(type='ResNetV1c', depth=18, out_indices=(3, )), (64, 96),
        scope='mmseg')
    assert result.flops - backbone.flops == head


def test_get_flops_cli_backbone(capsys):
    get_flops = load_tool('get_flops')
    get_flops.main([
        '--backbone', 'dict(type="ResNet", depth=18)', '--shape', '64', '48',
        '--cfg-options', 'out_indices=(3,)'
    ])
    out = capsys.readouterr().out
    assert 'Input shape: (1, 3, 64, 48)' in out
    assert 'Params: 11.18 M' in out
    assert 'FLOPs:' in out


def test_get_flops_cli_config(tmp_path, capsys):
    get_flops = load_tool('get_flops')
    get_flops.main([str(_retinanet_r18_config(tmp_path)), '--shape', '64'])
    assert 'Input shape: (1, 3, 64, 64)' in capsys.readouterr().out


def test_get_flops_cli_needs_one_target():
    get_flops = load_tool('get_flops')
    with pytest.raises(SystemExit):
        get_flops.parse_args(['--shape', '64'])


BAD_SPECS = [
    ('MAFormer:zz', r"Unknown MAFormer arch 'zz'; choose one of \["),
    ('Nope:s', "'Nope' is not registered .* registered backbones: "),
    ('dict(type=', 'cannot parse'),
]


@pytest.mark.parametrize('args, why', [
    *[([tool, '--backbone', spec], why) for spec, why in BAD_SPECS
      for tool in ('get_flops', 'benchmark')],
    (['get_flops', '--backbone', 'MAFormer:s', '--cfg-options',
      'drop_path_rate=2'], r'drop_path_rate must be in \[0, 1\), got 2'),
])
def test_bad_backbone_specs_exit_with_the_reason(args, why):
    """A bad --backbone ends the tool with one line, not a traceback."""
    tool, _, spec, *_ = args
    with pytest.raises(SystemExit) as exit_info:
        load_tool(tool).main(args[1:])
    assert re.match(rf'error: --backbone {re.escape(spec)}: .*{why}',
                    str(exit_info.value))


def test_benchmark_smoke(tmp_path, capsys):
    benchmark = load_tool('benchmark')
    out = tmp_path / 'results.json'
    benchmark.main([
        '--backbone', 'dict(type="ResNet", depth=18)', '--reference',
        'dict(type="ResNet", depth=18, out_indices=(3,))', '--size', '32',
        '--batch', '1', '--warmup', '0', '--iters', '1', '--repeats', '1',
        '--mm-size', '64', '--threads', '1', '--skip-memory', '--out',
        str(out)
    ])
    results = json.loads(out.read_text())
    rows = results['models']
    assert len(rows) == 2
    assert rows[results['reference']]['img_per_s_vs_ref'] == 1
    for row in rows.values():
        assert row['img_per_s'] > 0
        assert row['fraction_of_mm'] > 0
        assert row['img_per_s_vs_ref'] > 0
    assert results['matmul']['gmac_per_s'] > 0
    assert 'x ref' in capsys.readouterr().out


def test_benchmark_compile_times_compiled_and_eager_in_the_same_run(
        tmp_path, capsys):
    """--compile adds a compiled step per backbone (the reference too),
    compared to the compiled reference and to its own eager step."""
    benchmark = load_tool('benchmark')
    out = tmp_path / 'results.json'
    backbone = 'dict(type="ResNet", depth=18)'
    reference = 'dict(type="ResNet", depth=18, out_indices=(3,))'
    benchmark.main([
        '--backbone', backbone, '--reference', reference, '--size', '32',
        '--batch', '1', '--warmup', '1', '--iters', '1', '--repeats', '1',
        '--mm-size', '64', '--threads', '1', '--skip-memory', '--compile',
        '--compile-backend', 'eager', '--out',
        str(out)
    ])
    results = json.loads(out.read_text())
    rows = results['models']
    compiled = benchmark.COMPILED
    assert set(rows) == {
        backbone, reference, backbone + compiled, reference + compiled
    }
    assert results['settings']['compile_backend'] == 'eager'
    assert rows[reference + compiled]['img_per_s_vs_ref'] == 1
    for name in (backbone, reference):
        assert 'speedup_vs_eager' not in rows[name]
        row = rows[name + compiled]
        assert row['speedup_vs_eager'] > 0 and row['compile_s'] > 0
        assert row['fwd_gmacs_per_img'] == rows[name]['fwd_gmacs_per_img']
    table = capsys.readouterr().out
    assert 'compiled with eager' in table and 'x eager' in table


def test_benchmark_kernel_share_bounds_the_compile_speedup(tmp_path, capsys):
    """--kernel-share profiles every eager step: a ResNet spends most of its
    step in convolutions, and the bound is the inverse of the share."""
    benchmark = load_tool('benchmark')
    out = tmp_path / 'results.json'
    backbone = 'dict(type="ResNet", depth=18)'
    benchmark.main([
        '--backbone', backbone, '--reference', 'none', '--size', '64',
        '--batch', '2', '--warmup', '1', '--iters', '1', '--repeats', '1',
        '--mm-size', '64', '--threads', '1', '--skip-memory',
        '--kernel-share', '--out',
        str(out)
    ])
    row = json.loads(out.read_text())['models'][backbone]
    assert 0.5 < row['library_share'] < 1
    assert row['fusion_bound'] == pytest.approx(1 / row['library_share'])
    assert 'lib %' in capsys.readouterr().out


def test_benchmark_kernel_share_is_cpu_only(capsys):
    benchmark = load_tool('benchmark')
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--backbone', 'MAFormer:s', '--device', 'cuda',
                              '--kernel-share'])
    assert '--kernel-share profiles CPU steps' in capsys.readouterr().err


def test_benchmark_memory_worker_runs_in_fresh_process():
    benchmark = load_tool('benchmark')
    args = benchmark.parse_args([
        '--backbone', 'unused', '--mem-size', '128', '--mem-batch', '1',
        '--threads', '1'
    ])
    spec = 'dict(type="ResNet", depth=18, out_indices=(3,))'
    memory = benchmark.measure_memory([spec], args)[spec]
    weights = 11_176_512 * 4
    assert memory['weights_input_bytes'] > weights
    # The stem's output (64 x 64 x 64 floats, 1 MiB) is above glibc's mmap
    # threshold, so the RSS must grow by at least that much; smaller maps
    # can be served from the arena left over by the warm-up forward.
    stem_output = 64 * 64 * 64 * 4
    assert (memory['peak_bytes'] -
            memory['weights_input_bytes']) >= stem_output
