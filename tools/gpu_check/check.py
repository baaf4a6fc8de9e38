"""GPU check of every backbone family, run from the installed wheel set.

Started by ``tools/gpu_check/run.sh``, which installs the carried wheels
into a folder on ``PYTHONPATH`` first (see docs/benchmark.md, "GPU check").
For each family's benchmark variant (MAFormer-S, CrossFormer-S,
CrossFormer++-S, Focal-T, MixFormer-B4) and mmpretrain's Swin-T as the
reference, on CUDA:

* fp32: eval-mode outputs on CUDA equal the CPU's, same weights and inputs,
  at two input sizes (the second one exercises the size-keyed caches on the
  GPU), within 1e-4 relative L2 per output; TF32 is off for this check.
* AMP: fp16 and bf16 autocast forward and backward (of the summed outputs)
  run, outputs and gradients are finite, and every output is within 2 %
  relative L2 of the fp32 output.
* SDPA: the profiler counts which ``scaled_dot_product_attention`` backend
  each call of a train step dispatched to (fp32 and bf16): none may be the
  math fallback; and the train step runs with SDPA restricted to the fused
  backends (flash, memory-efficient, cuDNN).
* Speed and memory: train step (forward, sum of the outputs, backward) in
  fp32 and bf16 autocast; img/s in paired rounds as in
  ``tools/analysis_tools/benchmark.py`` and the step's peak of
  ``torch.cuda.max_memory_allocated``, each as a ratio to Swin-T.
* torch.compile: every family with at most two blocks per stage, its
  training step compiled by Inductor with ``dynamic=True`` and
  ``fullgraph=True``, at two detection-like sizes: one graph serves both,
  and outputs and gradients are within 1e-4 relative L2 of eager mode
  (fp32, TF32 off). Families are taken in turn while a time budget lasts;
  the report is written before these checks start, so a run stopped during
  them still leaves the rest.

Without CUDA (``--cpu``, or no GPU visible) the same script checks what a CPU
can: a second CPU run (rebuilt from the same seed) against the first, bf16
autocast against fp32, the SDPA backends seen (for information), and the
train-step timing code at a tiny size (not a benchmark), and the compile
check of the first family with Dynamo's ``eager`` backend (no Inductor:
minutes per family on a small CPU); the CUDA-only parts are reported as
skipped. Both modes also verify the wheel set
(``--wheels``: every wheel of its manifest present with its SHA-256 and
installed at its version) and that the packages were imported from the
installed set (``--site``), not from a checkout.

Writes ``gpu_check.json`` and ``gpu_check.md`` to ``--out``; exits 1 when a
check failed or raised, 0 otherwise.
"""
import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import platform
import statistics
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch._dynamo.utils import counters

FP32_RTOL = 1e-4
AMP_RTOL = 0.02
AMP_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}
REFERENCE = 'Swin-T'
# (report name, registry, config): one benchmark variant of every family
# (docs/benchmark.md), then the reference. mmdet's Swin-T (benchmark.py's
# preset) needs mmdet, whose models import mmcv's compiled ops; mmpretrain's
# has the same architecture and parameter count (27.5 M) and imports none.
MODELS = (
    ('MAFormer-S', 'mmengine', dict(type='MAFormer', arch='s')),
    ('CrossFormer-S', 'mmengine', dict(type='CrossFormer', arch='s')),
    ('CrossFormer++-S', 'mmengine', dict(type='CrossFormer', arch='pp-s')),
    ('Focal-T', 'mmengine', dict(type='FocalTransformer', arch='t')),
    ('MixFormer-B4', 'mmengine', dict(type='MixFormer', arch='b4')),
    (REFERENCE, 'mmpretrain',
     dict(type='SwinTransformer', arch='tiny', out_indices=(0, 1, 2, 3),
          drop_path_rate=0.2, pad_small_map=True)),
)
# Per mode: inputs of the equivalence checks (batch, [(H, W), ...]) and of
# the train-step timing (batch, (H, W)), timing rounds, AMP dtypes, torch
# threads, archs replacing the benchmark ones, and the compile check's
# backend, inputs and time budget (no family starts after it; the first
# always runs). The compile sizes keep every stage in the same regime (a
# CrossFormer stage-4 map larger than a group, Focal's maps larger than a
# window), so that one graph can serve both. The CPU mode is a test of the
# script (tests/command_line/test_gpu_check.py) on a shared 2-core machine: small archs
# and inputs, one thread, and timings that only exercise the code.
SETTINGS = {
    'cuda': dict(check_batch=2, check_sizes=[(224, 224), (200, 296)],
                 speed_batch=32, speed_size=(224, 224), warmup=3, iters=10,
                 repeats=3, amp=['fp16', 'bf16'],
                 speed_dtypes=['fp32', 'bf16'], threads=None, archs={},
                 compile_backend='inductor', compile_batch=1,
                 compile_sizes=[(512, 768), (480, 704)],
                 compile_budget_s=240),
    'cpu': dict(check_batch=1, check_sizes=[(64, 64), (40, 72)],
                speed_batch=1, speed_size=(64, 64), warmup=0, iters=1,
                repeats=1, amp=['bf16'], speed_dtypes=['fp32'], threads=1,
                archs={'CrossFormer-S': ('CrossFormer-T', 't'),
                       'MixFormer-B4': ('MixFormer-B0', 'b0')},
                compile_backend='eager', compile_batch=1,
                compile_sizes=[(64, 96), (72, 88)], compile_budget_s=0),
}
# Packages that must come from the installed set, not from a checkout.
INSTALLED = ('mmvit_backbones', 'mmengine', 'mmcv', 'mmpretrain')
SDPA_MARKERS = ('scaled_dot_product', 'flash_attention',
                'efficient_attention', 'cudnn_attention')


def build(registry: str, cfg: dict, training: bool = False) -> nn.Module:
    """A backbone built from ``cfg`` on the CPU with seed 0, in train or
    eval mode (not chained: mmpretrain's Swin ``train()`` returns None)."""
    if registry == 'mmpretrain':
        from mmpretrain.registry import MODELS as registry_models
    else:
        import mmvit_backbones  # noqa: F401  (registers the backbones)
        from mmengine.registry import MODELS as registry_models
    torch.manual_seed(0)
    model = registry_models.build(dict(cfg))
    model.train(training)
    return model


def outputs_of(model: nn.Module, x: torch.Tensor) -> List[torch.Tensor]:
    """The backbone's multi-scale outputs as a list of (B, C_i, H_i, W_i)."""
    outs = model(x)
    return [outs] if isinstance(outs, torch.Tensor) else list(outs)


def rel_l2(got: torch.Tensor, ref: torch.Tensor) -> float:
    """``||got - ref|| / ||ref||`` in fp64 on the CPU."""
    got, ref = got.detach().double().cpu(), ref.detach().double().cpu()
    return float((got - ref).norm() / ref.norm().clamp_min(1e-30))


def inputs_for(batch: int, sizes: Sequence[Tuple[int, int]]):
    """Seeded (B, 3, H, W) CPU inputs, one per size."""
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(batch, 3, h, w, generator=gen) for h, w in sizes]


@contextlib.contextmanager
def no_tf32():
    """Full fp32 matmuls and convolutions on CUDA (cuDNN uses TF32 for
    convolutions by default, which alone exceeds 1e-4)."""
    saved = (torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        (torch.backends.cuda.matmul.allow_tf32,
         torch.backends.cudnn.allow_tf32) = saved


def check_fp32(name: str, registry: str, cfg: dict, device: str,
               cfg_mode: dict) -> dict:
    """Eval outputs on ``device`` against a CPU run of the same weights.

    CUDA: the CPU model is moved to the GPU. CPU: a second model built from
    the same seed is run, so seeding and the CPU kernels' determinism are
    what is checked.
    """
    inputs = inputs_for(cfg_mode['check_batch'], cfg_mode['check_sizes'])
    model = build(registry, cfg)
    with torch.no_grad():
        ref = [outputs_of(model, x) for x in inputs]
    other = model.to(device) if device == 'cuda' else build(registry, cfg)
    errors = {}
    with torch.no_grad(), no_tf32():
        for (h, w), x, ref_outs in zip(cfg_mode['check_sizes'], inputs, ref):
            got = outputs_of(other, x.to(device))
            errors[f'{h}x{w}'] = [rel_l2(g, r) for g, r in zip(got, ref_outs)]
    worst = max(max(e) for e in errors.values())
    return dict(status='pass' if worst <= FP32_RTOL else 'fail',
                rel_l2=errors, worst=worst, tolerance=FP32_RTOL,
                against='CPU' if device == 'cuda' else 'second CPU run')


def _grads(model: nn.Module) -> torch.Tensor:
    """All parameter gradients, flattened into one fp64 CPU vector."""
    return torch.cat([
        p.grad.detach().double().flatten().cpu()
        for p in model.parameters() if p.grad is not None
    ])


def _forward_backward(model: nn.Module, x: torch.Tensor,
                      dtype: Optional[torch.dtype]):
    """Outputs and gradients of one forward (autocast in ``dtype``) and one
    backward of the summed outputs."""
    model.zero_grad(set_to_none=True)
    autocast = (torch.autocast(device_type=x.device.type, dtype=dtype)
                if dtype else contextlib.nullcontext())
    with autocast:
        outs = outputs_of(model, x)
    sum(o.float().sum() for o in outs).backward()
    return [o.detach() for o in outs], _grads(model)


def check_amp(name: str, registry: str, cfg: dict, device: str,
              cfg_mode: dict) -> dict:
    """fp16/bf16 autocast forward and backward against fp32, eval mode."""
    model = build(registry, cfg).to(device)
    x = inputs_for(cfg_mode['check_batch'], cfg_mode['check_sizes'][:1])[0]
    x = x.to(device)
    with no_tf32():
        ref_outs, ref_grads = _forward_backward(model, x, None)
    results = {}
    for precision in ('fp16', 'bf16'):
        if precision not in cfg_mode['amp']:
            results[precision] = dict(status='skip',
                                      why='CUDA only (CPU autocast: bf16)')
            continue
        outs, grads = _forward_backward(model, x, AMP_DTYPES[precision])
        finite = (all(torch.isfinite(o).all() for o in outs)
                  and bool(torch.isfinite(grads).all()))
        worst = max(rel_l2(o, r) for o, r in zip(outs, ref_outs))
        results[precision] = dict(
            status='pass' if finite and worst <= AMP_RTOL else 'fail',
            out_rel_l2=[rel_l2(o, r) for o, r in zip(outs, ref_outs)],
            worst=worst, finite=finite, grad_rel_l2=rel_l2(grads, ref_grads),
            output_dtype=str(outs[0].dtype).replace('torch.', ''),
            tolerance=AMP_RTOL)
    return results


def sdpa_backends(model: nn.Module, x: torch.Tensor,
                  dtype: Optional[torch.dtype]) -> Dict[str, int]:
    """Calls of every SDPA-related aten op in one train step (profiled)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        _forward_backward(model, x, dtype)
    return {
        event.key: event.count
        for event in prof.key_averages()
        if any(marker in event.key for marker in SDPA_MARKERS)
    }


def fused_only_step(model: nn.Module, x: torch.Tensor,
                    dtype: Optional[torch.dtype]) -> Optional[str]:
    """None if a train step runs with SDPA limited to the fused CUDA
    backends, else the error it raised (first line)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    fused = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
             SDPBackend.CUDNN_ATTENTION]
    try:
        with sdpa_kernel(fused):
            _forward_backward(model, x, dtype)
    except RuntimeError as err:
        return str(err).strip().splitlines()[0]
    return None


def check_sdpa(name: str, registry: str, cfg: dict, device: str,
               cfg_mode: dict) -> dict:
    """Which SDPA backends a train step takes, in fp32 and bf16."""
    model = build(registry, cfg, training=True).to(device)
    x = inputs_for(cfg_mode['check_batch'], cfg_mode['check_sizes'][:1])[0]
    x = x.to(device)
    result = dict(ops={}, fused_only={})
    for precision in ('fp32', 'bf16') if device == 'cuda' else ('fp32', ):
        dtype = AMP_DTYPES.get(precision)
        result['ops'][precision] = sdpa_backends(model, x, dtype)
        if device == 'cuda':
            result['fused_only'][precision] = fused_only_step(model, x, dtype)
    calls = sum(sum(ops.values()) for ops in result['ops'].values())
    math = sum(count for ops in result['ops'].values()
               for op, count in ops.items() if 'math' in op)
    result.update(math_calls=math, sdpa_calls=calls)
    if name == REFERENCE:
        result.update(status='n/a', why='the reference does not use SDPA')
    elif device != 'cuda':
        # On the CPU a learned bias that needs a gradient takes the explicit
        # attention (layers/attention.py), so most families show no SDPA op.
        result.update(status='skip', why='CUDA only (CPU: ops listed for '
                      'information)')
    else:
        failed = [n for n, err in result['fused_only'].items() if err]
        result['status'] = 'fail' if math or failed or not calls else 'pass'
    return result


def shallow(cfg: dict) -> dict:
    """``cfg`` (an mmvit_backbones backbone with a named arch) with at most
    two blocks per stage (CrossFormer alternates two kinds of block) and no
    drop path, whose random draws a compiled step would not repeat."""
    import mmvit_backbones  # noqa: F401  (registers the backbones)
    from mmengine.registry import MODELS as registry_models
    arch = dict(registry_models.get(cfg['type']).arch_zoo[cfg['arch']])
    arch['depths'] = [min(depth, 2) for depth in arch['depths']]
    return dict(cfg, arch=arch, drop_path_rate=0.)


def check_compile(name: str, registry: str, cfg: dict, device: str,
                  cfg_mode: dict) -> dict:
    """A training step of the shallow arch (:func:`shallow`) compiled with
    ``dynamic=True`` and ``fullgraph=True`` at each compile size, against
    eager mode: graphs compiled, seconds of each first step, relative L2 of
    the outputs (worst stage) and of all gradients."""
    cfg = shallow(cfg)
    model = build(registry, cfg, training=True).to(device)
    compiled = torch.compile(model, backend=cfg_mode['compile_backend'],
                             dynamic=True, fullgraph=True)
    inputs = inputs_for(cfg_mode['compile_batch'], cfg_mode['compile_sizes'])
    graphs_before = counters['stats']['unique_graphs']
    sizes = {}
    with no_tf32():
        for (h, w), x in zip(cfg_mode['compile_sizes'], inputs):
            x = x.to(device)
            _synchronize(device)
            start = time.perf_counter()
            outs, grads = _forward_backward(compiled, x, None)
            _synchronize(device)
            seconds = time.perf_counter() - start
            ref_outs, ref_grads = _forward_backward(model, x, None)
            sizes[f'{h}x{w}'] = dict(
                first_step_s=seconds,
                out_rel_l2=max(rel_l2(o, r) for o, r in zip(outs, ref_outs)),
                grad_rel_l2=rel_l2(grads, ref_grads))
    graphs = counters['stats']['unique_graphs'] - graphs_before
    torch._dynamo.reset()
    worst = max(max(size['out_rel_l2'], size['grad_rel_l2'])
                for size in sizes.values())
    return dict(status='pass' if worst <= FP32_RTOL and graphs == 1 else
                'fail', backend=cfg_mode['compile_backend'], graphs=graphs,
                sizes=sizes, worst=worst, tolerance=FP32_RTOL,
                arch=cfg['arch'])


def run_compile_checks(device: str, cfg_mode: dict, models: Sequence[tuple],
                       log: Callable[[str], None]) -> dict:
    """:func:`check_compile` of every family (not the reference) in turn,
    none started once ``compile_budget_s`` has passed."""
    results, start = {}, time.perf_counter()
    budget = cfg_mode['compile_budget_s']
    for name, registry, cfg in models:
        if name == REFERENCE:
            continue
        if results and time.perf_counter() - start > budget:
            results[name] = dict(status='skip', why='the time budget of '
                                 f'{budget} s for compiling was spent')
            continue
        begin = time.perf_counter()
        try:
            results[name] = check_compile(name, registry, cfg, device,
                                          cfg_mode)
        except Exception as err:  # noqa: BLE001  (reported, run goes on)
            results[name] = _error(err)
        log(f'{name}: compile done in {time.perf_counter() - begin:.1f} s')
        if device == 'cuda':
            torch.cuda.empty_cache()
    return results


def _synchronize(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def speed_and_memory(device: str, cfg_mode: dict, dtype_name: str,
                     models: Sequence[tuple]) -> Dict[str, dict]:
    """Train-step img/s and peak memory of every model at one precision.

    All models stay resident and are timed in paired rounds (each round
    times every model in turn), so ratios to Swin-T are medians of per-round
    ratios, as in ``tools/analysis_tools/benchmark.py``. Peak memory (CUDA)
    is ``max_memory_allocated`` over one step minus what was allocated
    before the model was built: its weights, input, activations and
    gradients.
    """
    batch, (h, w) = cfg_mode['speed_batch'], cfg_mode['speed_size']
    dtype = AMP_DTYPES.get(dtype_name)
    steps, rows = {}, {}
    for name, registry, cfg in models:
        try:
            _synchronize(device)
            before = (torch.cuda.memory_allocated()
                      if device == 'cuda' else 0)
            model = build(registry, cfg, training=True).to(device)
            x = torch.randn(batch, 3, h, w, device=device)

            def step(model=model, x=x) -> None:
                with (torch.autocast(device_type=device, dtype=dtype)
                      if dtype else contextlib.nullcontext()):
                    outs = outputs_of(model, x)
                sum(o.float().sum() for o in outs).backward()
                model.zero_grad(set_to_none=True)

            for _ in range(cfg_mode['warmup']):
                step()
            row = dict(status='pass')
            if device == 'cuda':
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                step()
                torch.cuda.synchronize()
                row['peak_bytes'] = torch.cuda.max_memory_allocated() - before
            steps[name], rows[name] = step, row
        except Exception as err:  # noqa: BLE001  (reported, run goes on)
            rows[name] = _error(err)
    seconds = {name: [] for name in steps}
    for _ in range(cfg_mode['repeats']):
        for name, step in list(steps.items()):
            try:
                _synchronize(device)
                start = time.perf_counter()
                for _ in range(cfg_mode['iters']):
                    step()
                _synchronize(device)
            except Exception as err:  # noqa: BLE001  (reported, goes on)
                rows[name] = _error(err)
                del steps[name], seconds[name]
                continue
            seconds[name].append(
                (time.perf_counter() - start) / cfg_mode['iters'])
    for name, rounds in seconds.items():
        rows[name].update(step_s_rounds=rounds,
                          img_per_s=batch / statistics.median(rounds))
        if REFERENCE in seconds:
            rows[name]['img_per_s_vs_ref'] = statistics.median(
                r / s for r, s in zip(seconds[REFERENCE], rounds))
        if 'peak_bytes' in rows[name] and 'peak_bytes' in rows.get(
                REFERENCE, {}):
            rows[name]['peak_vs_ref'] = (rows[name]['peak_bytes'] /
                                         rows[REFERENCE]['peak_bytes'])
    steps.clear()
    if device == 'cuda':
        torch.cuda.empty_cache()
    return rows


def _error(err: BaseException) -> dict:
    """A check that raised: its exception and the end of its traceback."""
    return dict(status='error', error=f'{type(err).__name__}: {err}'[:500],
                traceback=traceback.format_exc()[-3000:])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for block in iter(lambda: stream.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def check_wheels(wheels: Optional[Path], site: Optional[Path]) -> dict:
    """The wheel set against its manifest, and where packages came from.

    Every wheel of ``manifest.json`` must be in ``wheels`` with its SHA-256,
    and installed at its version; with ``site``, the distributions and
    :data:`INSTALLED` packages must resolve to files under it.
    """
    problems, result = [], dict(installed_from={})
    if wheels is not None:
        manifest = json.loads((wheels / 'manifest.json').read_text())
        result.update(python_version=manifest['python_version'],
                      source=manifest['source'],
                      wheels=len(manifest['wheels']),
                      total_bytes=manifest['total_bytes'])
        for wheel in manifest['wheels']:
            path = wheels / wheel['file']
            if not path.is_file():
                problems.append(f'{wheel["file"]} is missing')
                continue
            if _sha256(path) != wheel['sha256']:
                problems.append(f'{wheel["file"]} differs from the manifest')
            try:
                dist = importlib.metadata.distribution(wheel['name'])
            except importlib.metadata.PackageNotFoundError:
                problems.append(f'{wheel["name"]} is not installed')
                continue
            if dist.version != wheel['version']:
                problems.append(f'{wheel["name"]} {dist.version} is installed'
                                f', not {wheel["version"]}')
            location = Path(str(dist.locate_file(''))).resolve()
            if site is not None and location != site.resolve():
                problems.append(f'{wheel["name"]} is installed in {location}'
                                f', not in {site}')
    for name in INSTALLED:
        module = __import__(name)
        path = Path(module.__file__).resolve()
        result['installed_from'][name] = str(path.parent)
        if site is not None and site.resolve() not in path.parents:
            problems.append(f'{name} was imported from {path.parent}, not '
                            f'from the installed set')
    result.update(problems=problems,
                  status='fail' if problems else 'pass')
    return result


def environment(device: str) -> dict:
    """Versions and the machine the numbers come from."""
    info = dict(
        date=datetime.now(timezone.utc).isoformat(timespec='seconds'),
        host=platform.node(), python=platform.python_version(),
        torch=torch.__version__, device=device,
        cuda_available=torch.cuda.is_available(),
        torch_threads=torch.get_num_threads())
    for name in ('mmengine', 'mmcv', 'mmpretrain', 'mmvit_backbones',
                 'torchvision', 'numpy'):
        try:
            info[name] = __import__(name).__version__
        except ImportError as err:
            info[name] = f'not importable: {err}'
    if device == 'cuda':
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_bytes=props.total_memory,
                    cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version(),
                    tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                    tf32_cudnn=torch.backends.cudnn.allow_tf32)
    return info


def models_for(cfg_mode: dict) -> List[tuple]:
    """:data:`MODELS` with the mode's replacement archs."""
    models = []
    for name, registry, cfg in MODELS:
        if name in cfg_mode['archs']:
            name, arch = cfg_mode['archs'][name]
            cfg = dict(cfg, arch=arch)
        models.append((name, registry, cfg))
    return models


def run_checks(device: str, cfg_mode: dict, models: Sequence[tuple],
               log: Callable[[str], None]) -> dict:
    """Every check of every model; a check that raises is recorded."""
    checks = {}
    for name, registry, cfg in models:
        checks[name] = {}
        for key, fn in (('fp32', check_fp32), ('amp', check_amp),
                        ('sdpa', check_sdpa)):
            start = time.perf_counter()
            try:
                checks[name][key] = fn(name, registry, cfg, device, cfg_mode)
            except Exception as err:  # noqa: BLE001  (reported, run goes on)
                checks[name][key] = _error(err)
            log(f'{name}: {key} done in {time.perf_counter() - start:.1f} s')
            if device == 'cuda':
                torch.cuda.empty_cache()
    return checks


def statuses(report: dict) -> List[Tuple[str, str]]:
    """``(what, status)`` of every check in the report."""
    found = [('wheel set', report['wheels']['status'])]
    for name, checks in report['checks'].items():
        found.append((f'{name} fp32', checks['fp32']['status']))
        amp = checks['amp']
        if 'status' in amp:
            found.append((f'{name} amp', amp['status']))
        else:
            found += [(f'{name} {dt}', r['status']) for dt, r in amp.items()]
        found.append((f'{name} sdpa', checks['sdpa']['status']))
    for dtype, rows in report['speed'].items():
        found += [(f'{name} speed {dtype}', row['status'])
                  for name, row in rows.items()]
    found += [(f'{name} compile', result['status'])
              for name, result in report['compile'].items()]
    return found


def _fmt(value: Optional[float], spec: str) -> str:
    return '-' if value is None else format(value, spec)


def _cell(result: dict, metric: str, spec: str = '.1e') -> str:
    """A table cell: the metric and the status, or the status alone."""
    status = result.get('status', '?')
    if metric in result:
        return f'{format(result[metric], spec)} {status}'
    return status


def compile_markdown(report: dict) -> List[str]:
    """The torch.compile section of the report."""
    settings = report['settings']
    lines = [
        '', f'## torch.compile ({settings["compile_backend"]}, dynamic '
        f'shapes, fullgraph; batch {settings["compile_batch"]} at '
        + ' then '.join(f'{h}x{w}' for h, w in settings['compile_sizes'])
        + ')', ''
    ]
    if not report['compile']:
        return lines + [
            'Pending: this report was written before the compile checks; '
            'if this line remains, the run stopped during them.'
        ]
    lines += [
        'Each family with at most two blocks per stage, a training step: '
        'graphs compiled for the sizes (1 expected), seconds of the first '
        'step at each size, and the worst relative L2 of outputs and '
        f'gradients against eager mode (tolerance {FP32_RTOL:g}).', '',
        '| model | graphs | first step s | outputs rel L2 | gradients rel '
        'L2 | status |', '| --- | --- | --- | --- | --- | --- |'
    ]
    for name, result in report['compile'].items():
        sizes = result.get('sizes', {}).values()
        cells = ('-', '-', '-', '-') if not sizes else (
            str(result['graphs']),
            ', '.join(f'{size["first_step_s"]:.1f}' for size in sizes),
            _fmt(max(size['out_rel_l2'] for size in sizes), '.1e'),
            _fmt(max(size['grad_rel_l2'] for size in sizes), '.1e'))
        status = result['status'] + (f' ({result["why"]})'
                                     if 'why' in result else '')
        lines.append(f'| {name} | ' + ' | '.join(cells) + f' | {status} |')
    return lines


def to_markdown(report: dict) -> str:
    """The report as markdown (what docs/benchmark.md takes over)."""
    env, settings = report['environment'], report['settings']
    where = env.get('gpu', f'CPU ({env["torch_threads"]} threads)')
    lines = [
        '# GPU check', '',
        f'{where} | Python {env["python"]} | torch {env["torch"]}'
        + (f' (CUDA {env["cuda"]}, cuDNN {env["cudnn"]})'
           if 'cuda' in env else '')
        + f' | mmengine {env["mmengine"]}, mmcv {env["mmcv"]}, mmpretrain '
        f'{env["mmpretrain"]}, mmvit_backbones {env["mmvit_backbones"]} | '
        f'{env["date"]}', '',
        f'Mode: **{report["mode"]}**. Result: **{report["result"]}** '
        f'({report["counts"]}).', ''
    ]
    wheels = report['wheels']
    lines.append(
        f'Wheel set: {wheels.get("wheels", "-")} wheels, '
        f'{wheels.get("total_bytes", 0) / 2**20:.1f} MiB, built from '
        f'{wheels.get("source", "-")}: {wheels["status"]}'
        + ''.join(f'\n- {p}' for p in wheels['problems']))
    lines += [
        '', f'## Equivalence (batch {settings["check_batch"]}, sizes '
        + ', '.join(f'{h}x{w}' for h, w in settings['check_sizes']) + ')',
        '', 'Relative L2 error of the outputs (worst of the four stages); '
        f'fp32 against the {report["fp32_against"]} (tolerance '
        f'{FP32_RTOL:g}), autocast against fp32 (tolerance {AMP_RTOL:g}); '
        'SDPA: math-fallback calls / all SDPA calls in a train step.', '',
        '| model | fp32 | fp16 | bf16 | bf16 grad rel L2 | SDPA |',
        '| --- | --- | --- | --- | --- | --- |'
    ]
    for name, checks in report['checks'].items():
        amp, sdpa = checks['amp'], checks['sdpa']
        amp_cells = ([_cell(amp.get(dt, {}), 'worst') for dt in ('fp16',
                                                                 'bf16')]
                     if 'status' not in amp else [amp['status']] * 2)
        grad = _fmt(amp.get('bf16', {}).get('grad_rel_l2'), '.1e')
        sdpa_cell = (f'{sdpa["math_calls"]}/{sdpa["sdpa_calls"]} '
                     f'{sdpa["status"]}' if 'sdpa_calls' in sdpa else
                     sdpa['status'])
        lines.append(f'| {name} | {_cell(checks["fp32"], "worst")} | '
                     f'{amp_cells[0]} | {amp_cells[1]} | {grad} | '
                     f'{sdpa_cell} |')
    lines += ['', '### SDPA ops in one train step', '']
    for name, checks in report['checks'].items():
        ops = checks['sdpa'].get('ops', {})
        for dtype, counts in ops.items():
            seen = ', '.join(f'`{op}` x{n}' for op, n in sorted(
                counts.items())) or 'none'
            fused = checks['sdpa'].get('fused_only', {}).get(dtype, '')
            fused = ('' if dtype not in checks['sdpa'].get('fused_only', {})
                     else '; fused-only: ' + ('runs' if fused is None else
                                              f'fails ({fused})'))
            lines.append(f'- {name} {dtype}: {seen}{fused}')
    batch, (h, w) = settings['speed_batch'], settings['speed_size']
    lines += [
        '', f'## Train step ({h}x{w}, batch {batch}, {settings["iters"]} '
        f'iterations x {settings["repeats"]} rounds)', ''
    ]
    if report['mode'] == 'cpu':
        lines += ['CPU mode: tiny size, one iteration; these timings test '
                  'the code and are no benchmark.', '']
    else:
        lines += [f'fp32 with torch\'s TF32 settings: matmul '
                  f'{env["tf32_matmul"]}, cuDNN {env["tf32_cudnn"]}. Peak: '
                  'max_memory_allocated over one step, weights included.',
                  '']
    lines += ['| model | precision | img/s | x Swin-T | peak MiB | x Swin-T |',
              '| --- | --- | --- | --- | --- | --- |']
    for dtype, rows in report['speed'].items():
        for name, row in rows.items():
            peak = row.get('peak_bytes')
            lines.append(
                f'| {name} | {dtype} | {_fmt(row.get("img_per_s"), ".1f")} | '
                f'{_fmt(row.get("img_per_s_vs_ref"), ".2f")} | '
                f'{_fmt(peak / 2**20 if peak else None, ".0f")} | '
                f'{_fmt(row.get("peak_vs_ref"), ".2f")} |'
                + ('' if row['status'] == 'pass' else f' {row["status"]}'))
    lines += compile_markdown(report)
    troubles = [(what, status) for what, status in statuses(report)
                if status in ('fail', 'error')]
    if troubles:
        lines += ['', '## Failures', '']
        lines += [f'- {what}: {status}' for what, status in troubles]
        lines += ['', 'Errors and tracebacks are in gpu_check.json.']
    if report['skipped']:
        lines += ['', 'Skipped: ' + '; '.join(report['skipped']) + '.']
    return '\n'.join(lines) + '\n'


def write_report(report: dict, out: Path) -> str:
    """Summarise ``report`` (counts, result, skipped parts), write
    ``gpu_check.json`` and ``gpu_check.md`` to ``out`` and return the
    markdown."""
    device = report['mode']
    report['skipped'] = ([] if device == 'cuda' else [
        'CUDA not used (CPU mode): fp32 is compared with a second CPU run, '
        'not a GPU run; CrossFormer-T and MixFormer-B0 stand in for -S and '
        '-B4', 'fp16 autocast (CUDA only)',
        'SDPA backend check (CUDA only; the CPU ops of an fp32 train step '
        'are listed)', 'bf16 train-step timing and peak GPU memory (CUDA '
        'only)', 'Inductor (CPU mode compiles the first family with the '
        'eager backend)'
    ])
    found = statuses(report)
    counts = {s: sum(1 for _, v in found if v == s)
              for s in ('pass', 'fail', 'error', 'skip', 'n/a')}
    report['counts'] = ', '.join(f'{n} {s}' for s, n in counts.items() if n)
    report['result'] = ('FAIL' if counts['fail'] or counts['error'] else
                        'PASS')
    out.mkdir(parents=True, exist_ok=True)
    (out / 'gpu_check.json').write_text(
        json.dumps(report, indent=2, default=str) + '\n')
    markdown = to_markdown(report)
    (out / 'gpu_check.md').write_text(markdown)
    return markdown


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--cpu', action='store_true',
                        help='CPU mode even if a GPU is visible (it is '
                        'chosen anyway when none is)')
    parser.add_argument('--out', type=Path, required=True,
                        help='folder for gpu_check.json and gpu_check.md')
    parser.add_argument('--wheels', type=Path,
                        help='the installed wheel set (with manifest.json)')
    parser.add_argument('--site', type=Path,
                        help='folder the set was installed into; the '
                        'packages must be imported from it')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    device = 'cuda' if torch.cuda.is_available() and not args.cpu else 'cpu'
    cfg_mode = SETTINGS[device]
    if cfg_mode['threads']:
        torch.set_num_threads(cfg_mode['threads'])
    start = time.perf_counter()

    def log(message: str) -> None:
        print(f'[{time.perf_counter() - start:6.1f} s] {message}', flush=True)

    log(f'mode {device}; torch {torch.__version__}')
    report = dict(mode=device, environment=environment(device),
                  settings=cfg_mode,
                  fp32_against='CPU' if device == 'cuda' else
                  'second CPU run')
    try:
        report['wheels'] = check_wheels(args.wheels, args.site)
    except Exception as err:  # noqa: BLE001  (reported, run goes on)
        report['wheels'] = dict(_error(err), problems=[str(err)])
    log(f'wheel set: {report["wheels"]["status"]}')
    models = models_for(cfg_mode)
    report['models'] = {name: cfg for name, _, cfg in models}
    report['checks'] = run_checks(device, cfg_mode, models, log)
    report['speed'] = {}
    for dtype in cfg_mode['speed_dtypes']:
        try:
            report['speed'][dtype] = speed_and_memory(device, cfg_mode,
                                                      dtype, models)
        except Exception as err:  # noqa: BLE001  (reported, run goes on)
            report['speed'][dtype] = {'all models': _error(err)}
        log(f'train step {dtype} timed')
    report.update(compile={}, seconds=time.perf_counter() - start)
    write_report(report, args.out)
    log('report written before the compile checks')
    report['compile'] = run_compile_checks(device, cfg_mode, models, log)
    report['seconds'] = time.perf_counter() - start
    print(write_report(report, args.out))
    log(f'report written to {args.out}')
    return 0 if report['result'] == 'PASS' else 1


if __name__ == '__main__':
    sys.exit(main())
