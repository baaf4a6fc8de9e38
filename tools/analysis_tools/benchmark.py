"""Benchmark backbones against Swin-T: step throughput, peak inference memory
and achieved FLOP rate.

Example::

    python tools/analysis_tools/benchmark.py --backbone MAFormer:s \\
        --size 224 --batch 8 --mode train --mem-size 800 1344 --mem-batch 1

Every ``--backbone`` is timed in the same run as the Swin-T reference
(``--reference``, default ``swin-t``) and reported as a ratio to it. With
``--compile`` every backbone is also timed under ``torch.compile``, in the
same rounds as its eager step; a compiled row is compared to the compiled
reference and reports its speed-up over its own eager step. With
``--kernel-share`` one profiled eager step per backbone gives the share of its
time spent in library kernels (matmul, convolution, fused attention), which
``torch.compile`` calls unchanged on CPU, and so the most that fusing the rest
can speed the step up. See docs/benchmark.md for the method.
"""
import argparse
import contextlib
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

import mmvit_backbones  # noqa: F401  (registers this package's backbones)
from mmvit_backbones.analysis import (BackboneSpecError, backbone_complexity,
                                     build_backbone, build_backbone_from_spec,
                                     parse_backbone_spec)

AMP_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}
# Side of the square matrices timed for the dense matmul rate.
MM_SIZE = {'cpu': 2048, 'cuda': 8192}
# Key of the matmul step among the timed steps, and its products per round.
MATMUL = 'torch.mm'
MATMUL_ITERS = 3
# Rounds of one step slower than the fastest by this factor mean the
# machine's load changed during the run.
NOISY_SPREAD = 1.25
# Suffix of a compiled step's name (``--compile``).
COMPILED = ' [compiled]'
# Operators that run library kernels on CPU (BLAS, oneDNN, PyTorch's fused
# attention). Inductor calls the same kernels for them, so only the rest of
# a step's time can be fused away (``--kernel-share``).
LIBRARY_OPS = frozenset({
    'aten::mm', 'aten::addmm', 'aten::bmm', 'aten::baddbmm',
    'aten::mkldnn_convolution', 'aten::convolution_backward',
    'aten::_scaled_dot_product_flash_attention_for_cpu',
    'aten::_scaled_dot_product_flash_attention_for_cpu_backward'
})


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line options; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--backbone',
        action='append',
        required=True,
        help='backbone to measure, repeatable: a preset (swin-t), TYPE:ARCH '
        '(MAFormer:s) or a dict expression (\'dict(type="MAFormer", '
        'arch="s")\')')
    parser.add_argument(
        '--reference',
        default='swin-t',
        help='backbone every other one is compared to (default swin-t); '
        '"none" to skip it')
    parser.add_argument('--scope', default='mmdet',
                        help='registry scope to build backbones in')
    parser.add_argument('--size', type=int, nargs='+', default=[224],
                        help='throughput input H [W]')
    parser.add_argument('--batch', type=int, default=8,
                        help='throughput batch size')
    parser.add_argument('--mode', choices=['train', 'infer'], default='train',
                        help='train: forward + backward of the summed '
                        'outputs; infer: forward without autograd')
    parser.add_argument('--mem-size', type=int, nargs='+',
                        help='inference-memory input H [W] (default --size)')
    parser.add_argument('--mem-batch', type=int, default=1,
                        help='inference-memory batch size (default 1)')
    parser.add_argument('--skip-memory', action='store_true',
                        help='do not measure inference memory')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--amp', choices=sorted(AMP_DTYPES),
                        help='autocast dtype (CUDA only)')
    parser.add_argument('--threads', type=int,
                        help='torch intra-op threads (default: torch\'s)')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed iterations per backbone')
    parser.add_argument('--iters', type=int, default=10,
                        help='timed iterations per repeat')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed repeats; the median repeat is reported')
    parser.add_argument('--mm-size', type=int,
                        help='side of the square matrices timed for the '
                        'dense matmul rate (default 2048 on CPU, 8192 on '
                        'CUDA)')
    parser.add_argument('--compile', action='store_true',
                        help='also time every backbone under torch.compile '
                        '(same rounds as its eager step)')
    parser.add_argument('--compile-backend', default='inductor',
                        help='torch.compile backend for --compile (default '
                        'inductor)')
    parser.add_argument('--kernel-share', action='store_true',
                        help='profile one eager step per backbone: share of '
                        'its time in library kernels (matmul, convolution, '
                        'fused attention) and the speed-up bound it leaves '
                        'to torch.compile (CPU only)')
    parser.add_argument('--out', help='write all results to this JSON file')
    parser.add_argument('--memory-worker', action='store_true',
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.amp and args.device != 'cuda':
        parser.error('--amp needs --device cuda')
    if args.kernel_share and args.device != 'cpu':
        parser.error('--kernel-share profiles CPU steps; it needs --device '
                     'cpu')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda but torch sees no CUDA device')
    for name in ('batch', 'mem_batch', 'iters', 'repeats', 'mm_size'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    args.size = _hw(parser, args.size, '--size')
    args.mem_size = _hw(parser, args.mem_size or args.size, '--mem-size')
    return args


def _hw(parser: argparse.ArgumentParser, dims: List[int],
        flag: str) -> List[int]:
    """``[H, W]`` from ``[H]`` or ``[H, W]``; exits with a usage error."""
    if len(dims) not in (1, 2) or min(dims) < 1:
        parser.error(f'{flag} takes H or H W, positive')
    return [dims[0], dims[-1]]


def _autocast(args: argparse.Namespace):
    """Autocast context for ``--amp`` (a no-op context without it)."""
    if not args.amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=args.device, dtype=AMP_DTYPES[args.amp])


def _synchronize(device: str) -> None:
    """Wait for queued device work so that wall-clock timing is exact."""
    if device == 'cuda':
        torch.cuda.synchronize()


def _output_sum(outputs) -> torch.Tensor:
    """Sum of every element of a tensor or (nested) tuple/list of tensors."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float().sum()
    return sum(_output_sum(item) for item in outputs)


def _build(spec: str, args: argparse.Namespace) -> nn.Module:
    """Backbone from ``spec``, seeded, on ``args.device``."""
    torch.manual_seed(0)
    return build_backbone(parse_backbone_spec(spec), args.scope).to(
        args.device)


def make_step(model: nn.Module, inputs: torch.Tensor,
              args: argparse.Namespace) -> Callable[[], None]:
    """One benchmark iteration on ``inputs`` (B, 3, H, W).

    train: forward, sum of all outputs, backward; gradients are dropped
    (``set_to_none``) so there is no optimizer step. infer: forward under
    ``torch.inference_mode``.
    """
    if args.mode == 'train':
        model.train()

        def step() -> None:
            with _autocast(args):
                loss = _output_sum(model(inputs))
            loss.backward()
            model.zero_grad(set_to_none=True)
    else:
        model.eval()

        def step() -> None:
            with torch.inference_mode(), _autocast(args):
                model(inputs)

    return step


def time_steps(step: Callable[[], None], iters: int, device: str) -> float:
    """Seconds per iteration of ``iters`` consecutive calls of ``step``."""
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    _synchronize(device)
    return (time.perf_counter() - start) / iters


def build_steps(
    specs: List[str], args: argparse.Namespace
) -> Tuple[Dict[str, Callable[[], None]], Dict[str, float]]:
    """Warmed-up benchmark steps (see :func:`make_step`), one per backbone,
    and with ``--compile`` one more per backbone, named ``spec + COMPILED``,
    for the same model and inputs under ``torch.compile``.

    Each step runs ``--warmup`` untimed iterations; a compiled step first
    runs one more, which compiles it. Returns the steps and the seconds of
    that first, compiling, iteration of each compiled step.
    """
    height, width = args.size
    steps, compile_seconds = {}, {}
    for spec in specs:
        model = _build(spec, args)
        inputs = torch.randn(args.batch, 3, height, width, device=args.device)
        steps[spec] = make_step(model, inputs, args)
        if args.compile:
            compiled = spec + COMPILED
            steps[compiled] = make_step(
                torch.compile(model, backend=args.compile_backend), inputs,
                args)
            compile_seconds[compiled] = time_steps(steps[compiled], 1,
                                                   args.device)
        names = [spec] + ([spec + COMPILED] if args.compile else [])
        for name in names:
            for _ in range(args.warmup):
                steps[name]()
    return steps, compile_seconds


def make_matmul_step(
        args: argparse.Namespace) -> Tuple[Callable[[], None], int, str]:
    """A dense ``torch.mm`` step, its matrix side ``n`` and its dtype.

    Square ``n x n`` matrices (``--mm-size``; 2048 on CPU, 8192 on CUDA by
    default) in fp32, or in the ``--amp`` dtype; one product is ``n**3``
    multiply-adds. One untimed product is run here.
    """
    size = args.mm_size or MM_SIZE[args.device]
    dtype = AMP_DTYPES[args.amp] if args.amp else torch.float32
    a = torch.randn(size, size, device=args.device, dtype=dtype)
    b = torch.randn(size, size, device=args.device, dtype=dtype)

    def step() -> None:
        torch.mm(a, b)

    step()
    return step, size, str(dtype).replace('torch.', '')


def time_rounds(steps: Dict[str, Callable[[], None]], iters: Dict[str, int],
                args: argparse.Namespace) -> Dict[str, List[float]]:
    """Seconds per iteration of every step in each of ``--repeats`` rounds.

    A round times ``iters[name]`` consecutive calls of every step in turn,
    so a slow-down of a shared machine hits all steps of a round alike and
    ratios can be paired within rounds.
    """
    seconds = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            seconds[name].append(time_steps(step, iters[name], args.device))
    return seconds


def library_share(step: Callable[[], None]) -> float:
    """Share of one call of ``step``'s self CPU time (``torch.profiler``)
    spent in :data:`LIBRARY_OPS`.

    A compiler that fuses everything else but calls the same library kernels
    speeds the step up by at most ``1 / share`` (Amdahl's law).
    """
    with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        step()
    events = profile.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    library = sum(event.self_cpu_time_total for event in events
                  if event.key in LIBRARY_OPS)
    return library / total


def _median_ratio(numerators: List[float], denominators: List[float]) -> float:
    """Median over rounds of ``numerators[r] / denominators[r]``."""
    return statistics.median(n / d for n, d in zip(numerators, denominators))


def _rss_bytes() -> int:
    """Resident set size of this process now."""
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _reset_peak_rss() -> None:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux)."""
    try:
        with open('/proc/self/clear_refs', 'w') as clear_refs:
            clear_refs.write('5')
    except OSError as err:
        raise RuntimeError(f'cannot reset the peak RSS through '
                           f'/proc/self/clear_refs: {err}') from err


def _peak_rss_bytes() -> int:
    """Peak RSS (VmHWM) of this process since start or the last reset."""
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) * 1024
    raise RuntimeError('/proc/self/status has no VmHWM line')


def _tensor_bytes(model: nn.Module) -> int:
    """Bytes of all parameters and buffers of ``model``."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def inference_memory(spec: str, args: argparse.Namespace) -> dict:
    """Peak memory of one inference forward; meant for a fresh process.

    One untimed forward comes first (lazy initialisation of thread pools,
    kernels and library workspaces). CUDA: ``torch.cuda.max_memory_allocated``
    over the measured forward, with the model and input already on the
    device (weights + input + activations). CPU: the growth of the peak RSS
    over the measured forward plus the bytes of the weights and the input.
    glibc is told to serve allocations over 128 KiB with mmap
    (``MALLOC_MMAP_THRESHOLD_``, set by the parent) so that freed
    activations leave the RSS.
    """
    model = _build(spec, args)
    model.eval()  # not chained: some backbones' train() returns None
    height, width = args.mem_size
    inputs = torch.randn(args.mem_batch, 3, height, width, device=args.device)

    def forward() -> None:
        with torch.inference_mode(), _autocast(args):
            model(inputs)

    fixed_bytes = _tensor_bytes(model) + inputs.numel() * inputs.element_size()
    forward()
    gc.collect()
    if args.device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        forward()
        torch.cuda.synchronize()
        return dict(peak_bytes=torch.cuda.max_memory_allocated(),
                    weights_input_bytes=fixed_bytes,
                    method='torch.cuda.max_memory_allocated')
    baseline = _rss_bytes()
    _reset_peak_rss()
    forward()
    growth = _peak_rss_bytes() - baseline
    return dict(peak_bytes=fixed_bytes + growth,
                weights_input_bytes=fixed_bytes,
                method='weights + input + peak RSS growth')


def _worker_argv(spec: str, args: argparse.Namespace) -> List[str]:
    """Command line that runs :func:`inference_memory` in a new process."""
    argv = [
        sys.executable, __file__, '--memory-worker', '--backbone', spec,
        '--scope', args.scope, '--device', args.device, '--mem-size',
        str(args.mem_size[0]), str(args.mem_size[1]), '--mem-batch',
        str(args.mem_batch), '--reference', 'none'
    ]
    if args.amp:
        argv += ['--amp', args.amp]
    if args.threads:
        argv += ['--threads', str(args.threads)]
    return argv


def measure_memory(specs: List[str],
                   args: argparse.Namespace) -> Dict[str, dict]:
    """Run :func:`inference_memory` for each backbone in its own process."""
    # The child imports what this process imported, installed or not.
    env = dict(
        os.environ,
        MALLOC_MMAP_THRESHOLD_='131072',
        PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
    results = {}
    for spec in specs:
        proc = subprocess.run(
            _worker_argv(spec, args), env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f'memory worker for {spec!r} failed:\n'
                               f'{proc.stderr[-3000:]}')
        results[spec] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


def forward_gmacs(spec: str, args: argparse.Namespace) -> float:
    """Forward GMACs (= GFLOPs, paper convention) per image at ``--size``."""
    result = backbone_complexity(
        parse_backbone_spec(spec), shape=args.size, scope=args.scope)
    return result.flops / 1e9


def machine_info(args: argparse.Namespace) -> dict:
    """Where and when (start time) the numbers were taken."""
    info = dict(
        date=datetime.now(timezone.utc).isoformat(timespec='seconds'),
        host=platform.node(),
        cpu=_cpu_model(),
        logical_cpus=os.cpu_count(),
        torch=torch.__version__,
        torch_threads=torch.get_num_threads(),
        device=args.device)
    if args.device == 'cuda':
        info['gpu'] = torch.cuda.get_device_name()
    return info


def _cpu_model() -> str:
    """CPU model name from /proc/cpuinfo, or the platform's processor."""
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def collect(specs: List[str], reference: Optional[str],
            args: argparse.Namespace) -> dict:
    """All measurements for ``specs`` and ``reference`` in one run.

    Throughput is the batch over the median round's step time. Ratios to
    the reference and fractions of the matmul rate are medians over rounds
    of the ratio within each round (paired), robust to load changes.
    """
    everything = specs + ([reference] if reference else [])
    machine = machine_info(args)
    memory = {} if args.skip_memory else measure_memory(everything, args)
    steps, compile_seconds = build_steps(everything, args)
    mm_step, mm_size, mm_dtype = make_matmul_step(args)
    iters = dict.fromkeys(steps, args.iters)
    iters[MATMUL] = MATMUL_ITERS
    seconds = time_rounds({**steps, MATMUL: mm_step}, iters, args)
    mm_macs = mm_size**3 / 1e9
    matmul = dict(
        n=mm_size,
        dtype=mm_dtype,
        seconds_rounds=seconds[MATMUL],
        gmac_per_s=mm_macs / statistics.median(seconds[MATMUL]))
    flop_factor = 3 if args.mode == 'train' else 1
    models = {}
    gmacs = {spec: forward_gmacs(spec, args) for spec in everything}
    for name in steps:
        spec = name[:-len(COMPILED)] if name.endswith(COMPILED) else name
        step_gmacs = flop_factor * gmacs[spec] * args.batch
        median = statistics.median(seconds[name])
        row = dict(
            fwd_gmacs_per_img=gmacs[spec],
            step_s=median,
            step_s_rounds=seconds[name],
            round_spread=max(seconds[name]) / min(seconds[name]),
            img_per_s=args.batch / median,
            achieved_gmac_per_s=step_gmacs / median,
            fraction_of_mm=_median_ratio(
                [step_gmacs / t for t in seconds[name]],
                [mm_macs / t for t in seconds[MATMUL]]))
        if reference:
            row['img_per_s_vs_ref'] = _median_ratio(
                seconds[reference + name[len(spec):]], seconds[name])
        if name in compile_seconds:
            row['compile_s'] = compile_seconds[name]
            row['speedup_vs_eager'] = _median_ratio(seconds[spec],
                                                    seconds[name])
        if args.kernel_share and name == spec:
            row['library_share'] = library_share(steps[name])
            row['fusion_bound'] = 1 / row['library_share']
        if name in memory:
            row['memory'] = memory[name]
            if reference:
                row['memory_vs_ref'] = (memory[name]['peak_bytes'] /
                                        memory[reference]['peak_bytes'])
        models[name] = row
    return dict(
        machine=machine,
        settings=dict(
            size=args.size,
            batch=args.batch,
            mode=args.mode,
            amp=args.amp,
            warmup=args.warmup,
            iters=args.iters,
            repeats=args.repeats,
            mem_size=None if args.skip_memory else args.mem_size,
            mem_batch=None if args.skip_memory else args.mem_batch,
            compile_backend=args.compile_backend if args.compile else None,
            kernel_share=args.kernel_share,
            flops_per_step=f'{flop_factor} x forward'),
        matmul=matmul,
        reference=reference,
        models=models)


def format_table(results: dict) -> str:
    """Compact text table of :func:`collect`'s results."""
    settings, matmul = results['settings'], results['matmul']
    machine = results['machine']
    compiled = settings['compile_backend'] is not None
    memory = 'skipped' if settings['mem_size'] is None else (
        f"inference {settings['mem_size'][0]}x{settings['mem_size'][1]} "
        f"batch {settings['mem_batch']}")
    lines = [
        f"{machine.get('gpu', machine['cpu'])} | torch {machine['torch']}, "
        f"{machine['torch_threads']} threads | started {machine['date']}",
        f"{settings['mode']} {settings['size'][0]}x{settings['size'][1]} "
        f"batch {settings['batch']}; memory: {memory}; " +
        (f"compiled with {settings['compile_backend']}; "
         if compiled else '') +
        f"mm {matmul['n']}^3 {matmul['dtype']}: "
        f"{matmul['gmac_per_s']:.1f} GMAC/s",
        f"{'backbone':<34}{'GMAC/img':>9}{'img/s':>9}{'x ref':>7}"
        f"{'mem MiB':>9}{'x ref':>7}{'GMAC/s':>9}{'% mm':>7}" +
        (f"{'x eager':>8}{'compile s':>10}" if compiled else '') +
        (f"{'lib %':>7}{'bound':>7}" if settings['kernel_share'] else ''),
    ]
    for spec, row in results['models'].items():
        memory = row.get('memory')
        mem = f"{memory['peak_bytes'] / 2**20:9.0f}" if memory else f"{'-':>9}"
        line = (f'{spec[:33]:<34}{row["fwd_gmacs_per_img"]:9.2f}'
                f'{row["img_per_s"]:9.2f}'
                f'{_ratio(row.get("img_per_s_vs_ref"))}{mem}'
                f'{_ratio(row.get("memory_vs_ref"))}'
                f'{row["achieved_gmac_per_s"]:9.1f}'
                f'{100 * row["fraction_of_mm"]:6.1f}%')
        if compiled:
            line += (f'{_ratio(row["speedup_vs_eager"]):>8}'
                     f'{row["compile_s"]:10.1f}' if 'compile_s' in row else
                     f"{'-':>8}{'-':>10}")
        if 'library_share' in row:
            line += (f'{100 * row["library_share"]:6.1f}%'
                     f'{_ratio(row["fusion_bound"])}')
        lines.append(line)
    lines += _noise_warnings(results)
    return '\n'.join(lines)


def _noise_warnings(results: dict) -> List[str]:
    """A warning for every step whose round times spread too much."""
    spreads = {
        spec: row['round_spread']
        for spec, row in results['models'].items()
    }
    mm_rounds = results['matmul']['seconds_rounds']
    spreads[MATMUL] = max(mm_rounds) / min(mm_rounds)
    return [
        f'WARNING: {name}: slowest round {spread:.2f}x the fastest; the '
        f'machine\'s load changed (ratios are paired per round)'
        for name, spread in spreads.items() if spread > NOISY_SPREAD
    ]


def _ratio(value: Optional[float]) -> str:
    """A ratio column entry."""
    return f'{value:7.2f}' if value is not None else f"{'-':>7}"


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point: measure, print the table, optionally write JSON."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_worker:
        print(json.dumps(inference_memory(args.backbone[0], args)))
        return
    reference = None if args.reference.lower() == 'none' else args.reference
    specs = [spec for spec in args.backbone if spec != reference]
    for spec in specs + ([reference] if reference else []):
        try:
            build_backbone_from_spec(spec, args.scope)
        except BackboneSpecError as error:
            raise SystemExit(f'error: --backbone {error}') from None
    results = collect(specs, reference, args)
    print(format_table(results))
    if args.out:
        with open(args.out, 'w') as out:
            json.dump(results, out, indent=2)
        print(f'results written to {args.out}')


if __name__ == '__main__':
    main()
