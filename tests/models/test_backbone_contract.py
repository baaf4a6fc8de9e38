"""What every backbone of the package promises a dense-prediction framework,
checked the same way for each family on a tiny custom arch: clear errors for
bad arguments, no state carried between calls, independent batch items,
``out_indices``, ``frozen_stages``, ``with_cp`` and the drop path schedule.

Family-specific behaviour (attention against references, arch tables,
parameters and FLOPs) is tested in each family's own module.
"""
import copy
import re
from dataclasses import dataclass, field
from typing import Tuple

import pytest
import torch
from torch import nn

from backbone_helpers import randomise_norms
from mmvit_backbones.models.backbones import (CrossFormer, FocalTransformer,
                                              MAFormer, MixFormer)
from mmvit_backbones.models.backbones.base import (BackboneStage,
                                                   HierarchicalBackbone)


@dataclass(frozen=True)
class Family:
    """A tiny member of a backbone family and how to reach its parts."""
    cls: type
    arch: dict
    kwargs: dict = field(default_factory=dict)
    # An input size at which every parameter gets a gradient.
    grad_size: Tuple[int, int] = (48, 40)

    def build(self, **kwargs) -> nn.Module:
        kwargs = {'drop_path_rate': 0., **self.kwargs, **kwargs}
        model = self.cls(arch=self.arch, **kwargs)
        model.init_weights()
        return model.eval()

    @property
    def dims(self):
        dims = self.arch['embed_dims']
        return dims if isinstance(dims, list) else [dims * 2**i for i in range(4)]


CROSSFORMER_V1 = dict(embed_dims=32, depths=[2, 2, 3, 2],
                      num_heads=[1, 2, 2, 4], group_sizes=[3, 3, 3, 2],
                      intervals=[4, 2, 2, 1])
FAMILIES = {
    'MAFormer': Family(
        MAFormer,
        dict(embed_dims=[16, 32, 48, 64], depths=[1, 2, 1, 1],
             num_heads=[2, 2, 2, 4]),
        grad_size=(48, 48)),
    'CrossFormer': Family(CrossFormer, CROSSFORMER_V1),
    'CrossFormer++': Family(
        CrossFormer,
        dict(CROSSFORMER_V1, depths=[2, 1, 4, 2], amplitude_cooling=True,
             lda_mode='region', intervals=[2, 2, 1, 1])),
    'FocalTransformer': Family(
        FocalTransformer,
        dict(embed_dims=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 2, 4]),
        grad_size=(130, 120)),  # stage-3 maps must exceed a window of 7
    'MixFormer': Family(
        MixFormer,
        dict(embed_dims=16, depths=[1, 2, 2, 1], num_heads=[1, 2, 2, 4])),
}
# MAFormer's Swin-style local branch (the Table 2 ablation) has its own
# size-dependent masks: the state tests also run it.
STATE_FAMILIES = dict(FAMILIES, **{
    'MAFormer-shifted-window': Family(
        MAFormer, FAMILIES['MAFormer'].arch,
        dict(local_attn='shifted_window', window_size=4)),
})
state_families = pytest.mark.parametrize(
    'family', STATE_FAMILIES.values(), ids=list(STATE_FAMILIES))
PARAMETER_PATH = re.compile(
    r'(patch_embed|stages\.[0-3]\.(blocks\.\d+|downsample)|norm[0-3])\.')
families = pytest.mark.parametrize('family', FAMILIES.values(),
                                   ids=list(FAMILIES))


def drop_path_rates(model: nn.Module):
    return [
        getattr(block.drop_path, 'drop_prob', 0.) for stage in model.stages
        for block in stage.blocks
    ]


# ------------------------------------------------------------ clear errors


@families
def test_unknown_arch_names_list_the_valid_ones(family):
    name = family.cls.__name__
    with pytest.raises(KeyError, match=f"Unknown {name} arch 'xxl'; choose "
                       'one of') as error:
        family.cls(arch='xxl')
    assert all(repr(key) in str(error.value) for key in family.cls.arch_zoo)
    with pytest.raises(TypeError, match='str or a dict'):
        family.cls(arch=4)


@families
def test_bad_custom_archs_say_what_is_wrong(family):
    with pytest.raises(KeyError, match=r"missing \['num_heads'\]"):
        family.cls(arch=dict(embed_dims=family.arch['embed_dims'],
                             depths=[1, 1, 1, 1]))
    with pytest.raises(KeyError, match=r"unknown keys \['window'\]; valid"):
        family.cls(arch=dict(family.arch, window=7))
    with pytest.raises(ValueError, match='depths needs 4 positive ints'):
        family.cls(arch=dict(family.arch, depths=[1, 1, 1]))
    with pytest.raises(ValueError, match='num_heads needs 4'):
        family.cls(arch=dict(family.arch, num_heads=[2, 2, 0, 2]))


@families
def test_bad_options_and_inputs_say_what_is_expected(family):
    with pytest.raises(ValueError, match=r'out_indices must be .* \(0, 1, 2, '
                       r'3\), got \(4,\)'):
        family.build(out_indices=(4, ))
    with pytest.raises(ValueError, match=r'frozen_stages must be in -1..4'):
        family.build(frozen_stages=5)
    with pytest.raises(ValueError,
                       match=r'drop_path_rate must be in \[0, 1\), got 1.5'):
        family.build(drop_path_rate=1.5)
    with pytest.raises(ValueError, match=r'expects images shaped \(B, 3, H, '
                       r'W\), got a tensor of shape \(1, 1, 32, 32\)'):
        family.build()(torch.rand(1, 1, 32, 32))


@families
def test_out_indices_as_an_int_or_negative(family):
    assert family.build(out_indices=3).out_indices == (3, )
    assert family.build(out_indices=(-1, 0)).out_indices == (3, 0)
    outs = family.build(out_indices=-2)(torch.rand(1, 3, 64, 64))
    assert len(outs) == 1 and outs[0].shape[1] == family.dims[2]
    for bad in ('1', (1.0, ), (True, ), (), None, (-5, )):
        with pytest.raises(ValueError, match=r'out_indices must be .* got '):
            family.build(out_indices=bad)


@families
@pytest.mark.parametrize('in_channels', [0, -3, 2.0, True])
def test_bad_in_channels_is_refused_by_name(family, in_channels):
    with pytest.raises(ValueError, match=r'in_channels must be a positive '
                       rf'int \(image channels\), got {in_channels!r}'):
        family.build(in_channels=in_channels)


@families
@pytest.mark.parametrize('dtype', [torch.uint8, torch.float64])
def test_wrong_input_dtype_names_both_dtypes(family, dtype):
    model = family.build()
    x = torch.rand(1, 3, 32, 32).mul(255).to(dtype)
    with pytest.raises(TypeError, match=str(dtype)) as error:
        model(x)
    assert 'torch.float32' in str(error.value)
    assert family.cls.__name__ in str(error.value)


@families
def test_empty_batch_gives_empty_maps_and_changes_nothing(family):
    model = family.build().train()
    before = copy.deepcopy(model.state_dict())
    outs = model(torch.rand(0, 3, 64, 48))
    assert model.training and all(m.training for m in model.modules())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    full = model.eval()(torch.rand(1, 3, 64, 48))
    assert [o.shape for o in outs] == [(0, *f.shape[1:]) for f in full]


@families
def test_pretrained_checkpoint_sharing_no_key_is_refused(family, tmp_path):
    source = family.build()
    official = {f'layers.{k}': v for k, v in source.state_dict().items()}
    path = tmp_path / 'official.pth'
    torch.save({'model': official}, path)
    name = family.cls.__name__
    with pytest.raises(ValueError, match=rf"of {name}: none of the 1 keys "
                       rf".* \('model'\) is a {name} key .* "
                       r"tools/model_converters/ .* prefix='backbone.'"):
        family.build(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    torch.save({'state_dict': official}, path)
    with pytest.raises(ValueError, match="has no keys under the prefix "
                       "'backbone.'. Convert"):
        family.build(init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                   prefix='backbone.'))
    # A detector checkpoint whose backbone keys match loads.
    detector = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    torch.save({'state_dict': {**detector, 'neck.w': torch.ones(1)}}, path)
    loaded = family.build(init_cfg=dict(type='Pretrained',
                                        checkpoint=str(path),
                                        prefix='backbone.'))
    for key, value in source.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)


# ------------------------------------------------------------ one skeleton


@families
def test_every_family_fits_the_one_skeleton(family):
    """Stem, stages (blocks + merging), output norms; the forward and the
    freezing rule are the base's (models/backbones/base.py)."""
    model = family.build()
    for name in ('forward', '_freeze_stages', 'train', '_empty_outputs'):
        assert getattr(family.cls, name) is getattr(HierarchicalBackbone,
                                                    name), name
    assert len(model.stages) == 4
    assert all(type(stage) is BackboneStage for stage in model.stages)
    assert [s.downsample is None for s in model.stages] == [False] * 3 + [True]
    outside = [k for k in model.state_dict() if not PARAMETER_PATH.match(k)]
    assert not outside


# ------------------------------------------------------- shapes and state


@families
def test_forward_keeps_no_state_between_sizes(family):
    model = family.build()
    fresh = copy.deepcopy(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    large = torch.rand(1, 3, 97, 131)
    with torch.no_grad():
        expected = fresh(large)
        model(torch.rand(1, 3, 20, 24))
        model(torch.rand(1, 3, 5, 3))
        got = model(large)
    for a, b in zip(expected, got):
        torch.testing.assert_close(a, b)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


@state_families
def test_no_module_stores_tensors_outside_its_state_dict(family):
    """Size-dependent tensors live in the bounded caches of
    models/layers/cache.py, never on a module (where they would grow with
    every new size, travel with deepcopy and outlive a weight write)."""
    model = family.build()
    with torch.no_grad():
        for size in ((37, 29), (64, 64), (97, 131)):
            model(torch.rand(1, 3, *size))
    own = ('_parameters', '_buffers', '_modules')

    def tensors(value):
        if isinstance(value, torch.Tensor):
            return True
        if isinstance(value, dict):
            value = list(value.values())
        return isinstance(value, (list, tuple)) and any(map(tensors, value))

    stored = [f'{name}.{attr}' for name, module in model.named_modules()
              for attr, value in vars(module).items()
              if attr not in own and tensors(value)]
    assert not stored


@state_families
@pytest.mark.parametrize('write', ['data', 'load_state_dict', 'optimizer'])
def test_weights_written_in_place_in_eval_mode_change_the_output(
        family, write):
    """No call to ``eval()`` is needed after a weight write: nothing derived
    from the weights is cached."""
    model = family.build()
    randomise_norms(model)
    x = torch.rand(1, 3, 45, 61)
    with torch.no_grad():
        before = model(x)
    donor = copy.deepcopy(model)
    with torch.no_grad():
        for p in donor.parameters():
            p.add_(0.05 * torch.randn_like(p))
    if write == 'data':
        for p, q in zip(model.parameters(), donor.parameters()):
            p.data.copy_(q)
    elif write == 'load_state_dict':
        model.load_state_dict(donor.state_dict())
    else:
        # a fused step bumps no version counter
        optimizer = torch.optim.SGD(model.parameters(), lr=1., fused=True)
        for p, q in zip(model.parameters(), donor.parameters()):
            p.grad = p.detach() - q
        optimizer.step()
    with torch.no_grad():
        got = model(x)
        expected = copy.deepcopy(donor)(x)
    assert any(not torch.equal(a, b) for a, b in zip(got, before))
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@families
def test_batch_items_are_independent(family):
    model = family.build()
    randomise_norms(model)
    x = torch.rand(3, 3, 45, 61)
    with torch.no_grad():
        batched = model(x)
        single = model(x[1:2])
    for a, b in zip(batched, single):
        torch.testing.assert_close(a[1:2], b, atol=1e-5, rtol=1e-4)


@families
def test_out_indices_select_stages_and_their_norms(family):
    model = family.build(out_indices=(1, 3))
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 40, 40))
    assert [o.shape[1] for o in outs] == [family.dims[1], family.dims[3]]
    assert all(o.is_contiguous() for o in outs)
    assert not hasattr(model, 'norm0') and not hasattr(model, 'norm2')


# ------------------------------------------------- training-related options


@families
def test_frozen_stages(family):
    model = family.build(frozen_stages=2, out_indices=(0, 1, 2, 3)).train()
    frozen = [model.patch_embed, *model.stages[:2]]
    trainable = list(model.stages[2:])
    norms = [getattr(model, f'norm{i}', None) for i in range(4)]
    frozen += [n for n in norms[:2] if n is not None]
    trainable += [n for n in norms[2:] if n is not None]
    for module in frozen:
        assert not any(p.requires_grad for p in module.parameters())
        assert not any(m.training for m in module.modules())
    for module in trainable:
        assert all(p.requires_grad for p in module.parameters())
    buffers = {
        n: b.clone()
        for n, b in model.named_buffers() if n.startswith('stages.1.')
    }
    sum(o.mean() for o in model(torch.rand(2, 3, 40, 40))).backward()
    for name, buffer in model.named_buffers():
        if name in buffers:
            torch.testing.assert_close(buffer, buffers[name])
    only_stem = family.build(frozen_stages=0).train()
    assert not any(p.requires_grad for p in only_stem.patch_embed.parameters())
    assert all(p.requires_grad for p in only_stem.stages[0].blocks.parameters())


@families
def test_with_cp_gives_the_same_outputs_and_gradients(family):
    plain = family.build().train()
    ckpt = copy.deepcopy(plain)
    for stage in ckpt.stages:
        stage.with_cp = True
    x = torch.rand(2, 3, 41, 50)
    grads = []
    for model in (plain, ckpt):
        outs = model(x)
        sum(o.square().mean() for o in outs).backward()
        grads.append([p.grad for p in model.parameters()])
    for a, b in zip(*grads):
        assert (a is None) == (b is None)  # e.g. Focal rings on tiny maps
        if a is not None:
            torch.testing.assert_close(a, b)
    assert all(s.with_cp for s in family.build(with_cp=True).stages)


@families
def test_gradients_reach_every_parameter(family):
    model = family.build().train()
    outs = model(torch.rand(2, 3, *family.grad_size))
    sum(o.mean() for o in outs).backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]


@families
def test_gradients_have_their_parameters_strides(family):
    """DistributedDataParallel warns on every step ("Grad strides do not
    match bucket view strides") and copies the gradient when they differ."""
    model = family.build().train()
    outs = model(torch.rand(2, 3, *family.grad_size))
    sum(o.sum() for o in outs).backward()
    mismatched = [name for name, p in model.named_parameters()
                  if p.grad is not None and p.grad.stride() != p.stride()]
    assert not mismatched


@families
def test_drop_path_grows_linearly_over_the_blocks(family):
    model = family.build(drop_path_rate=0.4)
    rates = drop_path_rates(model)
    assert rates == pytest.approx(
        torch.linspace(0, 0.4, sum(family.arch['depths'])).tolist())
    model.eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        for a, b in zip(model(x), model(x)):
            torch.testing.assert_close(a, b)
    if 'drop_path_rate' in family.cls.optional_arch_keys:
        # Without the argument, the arch's own rate (the variants' defaults).
        arch_default = family.cls(arch=dict(family.arch, drop_path_rate=0.2))
        assert drop_path_rates(arch_default)[-1] == pytest.approx(0.2)


# --------------------------------------------------------- mixed precision


def relative_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@families
def test_cpu_bf16_autocast_forward_and_backward(family):
    model = family.build()
    randomise_norms(model)
    x = torch.rand(2, 3, *family.grad_size)
    with torch.no_grad():
        reference = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            outs = model(x)
    for out, ref in zip(outs, reference):
        assert relative_l2(out, ref) < 0.02
    model.train()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        outs = model(x)
    sum(o.float().sum() for o in outs).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in model.parameters() if p.requires_grad)


@families
def test_no_cache_carries_autocast_into_fp32_calls(family):
    """Autocast then fp32, and fp32 then autocast, on one model: each call
    gives what a fresh copy gives."""
    model = family.build()
    randomise_norms(model)
    fresh = copy.deepcopy(model)
    x = torch.rand(1, 3, 64, 64)
    bf16 = torch.autocast('cpu', dtype=torch.bfloat16)
    with torch.no_grad():
        with bf16:
            model(x)
        for a, b in zip(model(x), copy.deepcopy(fresh)(x)):
            assert torch.equal(a, b)
        with bf16:
            mixed = model(x)
            expected = copy.deepcopy(fresh)(x)
    for a, b in zip(mixed, expected):
        assert torch.equal(a, b)
