"""Time and memory of each generator's step against a plain forward+backward.

For every case (a model, a batch size and a resolution) and every optimising
generator, measures the wall time of one optimisation step and the peak
memory above the set-up, and compares them with a plain forward and backward
of the same model and batch (the least any pixel-optimising generator must
do: the model frozen, gradients to the images only). Goal of method.md:
CLAMP within 1.3x the time and 1.2x the memory of that baseline.

Time: the fastest step after the first, without any profiler, and the
fastest of ``--repeats`` measurements of the baseline and CLAMP (on a CPU
shared with other jobs the minimum is the figure least disturbed by them).
Memory: the peak of live tensor memory during one further step, replayed
from the allocations and frees the torch profiler records
(``profile_memory=True``), minus what was alive before it (model weights
excluded). Every measurement runs in its own subprocess.

Example:
    nice -n 10 python tools/benchmark_generators.py --threads 1 \
        --cases fmnist-vit swin-t-512 --out docs/benchmark_generators.md
"""
import argparse
import copy
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time

import torch

# Run from a checkout without `pip install -e .` as well.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

#: case name -> (model builder name, batch size, (H, W)).
CASES = {
    'fmnist-vit': ('fmnist_vit', 32, (32, 32)),
    'swin-t-512': ('swin_t_backbone', 1, (512, 512)),
    'swin-t-800x1333': ('swin_t_backbone', 1, (800, 1333)),
}
#: What each model of :data:`CASES` is, for the report.
MODEL_DESCRIPTIONS = {
    'fmnist_vit': 'timm ViT with the sizes of configs/fashion_mnist/'
    'vit_fmnist.py (patch 4, dim 64, depth 4, 2 heads, 10 classes)',
    'swin_t_backbone': 'timm Swin-T backbone (dim 96, depths 2-2-6-2, '
    'heads 3-6-12-24, window 7), no head',
}
#: What is measured in each case: the baseline, then the generators.
METHODS = ('forward+backward', 'ClampGenerator', 'PSAQv1Generator',
           'PSAQv2Generator')
#: Measured again at the end of each case (``--repeats``): the comparison
#: the goal is about, and the one most disturbed by other jobs.
REPEATED = ('forward+backward', 'ClampGenerator')


def build_model(name: str, resolution):
    """A randomly initialised model of the benchmark; weights do not matter
    for time and memory."""
    torch.manual_seed(0)
    if name == 'fmnist_vit':
        # The sizes of configs/fashion_mnist/vit_fmnist.py as a timm model.
        from timm.models.vision_transformer import VisionTransformer
        return VisionTransformer(img_size=32, patch_size=4, embed_dim=64,
                                 depth=4, num_heads=2, num_classes=10).eval()
    if name == 'swin_t_backbone':
        from timm.models.swin_transformer import SwinTransformer
        return SwinTransformer(img_size=resolution, patch_size=4,
                               window_size=7, embed_dim=96,
                               depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
                               num_classes=0).eval()
    raise ValueError(f'unknown model {name!r}')


def peak_tensor_bytes(run) -> int:
    """Peak of the tensor memory ``run()`` allocates beyond what it frees.

    Replays, in time order, the bytes each profiled operator allocated net
    of what it freed (its own share, children excluded), and returns the
    highest running total.
    """
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU],
                 profile_memory=True) as profiler:
        run()
    events = sorted(profiler.events(), key=lambda e: e.time_range.start)
    alive = peak = 0
    for event in events:
        alive += event.self_cpu_memory_usage
        peak = max(peak, alive)
    return peak


def measure(case: str, method: str, iterations: int) -> dict:
    """One measurement, in the current (fresh) process."""
    from clamp_mm.models import find_adapter
    from clamp_mm.registry import GENERATORS
    from clamp_mm.synth.base_generator import frozen
    import clamp_mm.synth  # noqa: F401  (registers the generators)

    model_name, batch_size, resolution = CASES[case]
    model = build_model(model_name, resolution)
    adapter = find_adapter(model)
    quantized = None
    if method == 'PSAQv2Generator':
        from clamp_mm.models import calibrate_observers
        quantized = copy.deepcopy(model)
        calibrate_observers(quantized, dict(weight_bits=4, act_bits=8),
                            torch.randn(batch_size, 3, *resolution))
    if method == 'forward+backward':
        images = torch.randn(batch_size, 3, *resolution, requires_grad=True)

        def run(steps):
            seconds = []
            with frozen(model):
                for _ in range(steps):
                    started = time.perf_counter()
                    output = adapter.forward_images(images)
                    outputs = (output if isinstance(output, (tuple, list))
                               else [output])
                    sum(o.float().sum() for o in outputs).backward()
                    images.grad = None
                    seconds.append(time.perf_counter() - started)
            return seconds
    else:
        # One round: the cost of a step does not depend on the round.
        extra = {} if method == 'ClampGenerator' else dict(num_rounds=1)

        def run(steps):
            generator = GENERATORS.build(
                dict(type=f'clamp_mm.{method}', iterations=steps,
                     batch_size=batch_size, progress=False, log_interval=0,
                     **extra))
            generator.generate(adapter, batch_size, resolution,
                               quantized_model=quantized)
            return [entry['seconds'] for entry in generator.loss_log]

    step_seconds = run(iterations)
    peak = peak_tensor_bytes(lambda: run(1))
    return dict(
        case=case,
        method=method,
        seconds_per_step=min(step_seconds[1:] or step_seconds),
        peak_bytes=peak,
        steps=len(step_seconds))


def run_worker(case: str, method: str, iterations: int, threads: int):
    """Run :func:`measure` in a subprocess; return its result or error."""
    command = [
        sys.executable, osp.abspath(__file__), '--worker', case, method,
        '--iterations', str(iterations), '--threads', str(threads)
    ]
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        tail = finished.stderr.strip().splitlines()[-1:] or ['(no output)']
        return dict(case=case, method=method, error=tail[0])
    return json.loads(finished.stdout.strip().splitlines()[-1])


def format_report(results, threads, iterations, psaq_iterations, repeats,
                  elapsed) -> str:
    """The markdown page."""
    lines = [
        '# Generator step cost versus a plain forward and backward', '',
        'Written by `tools/benchmark_generators.py`; do not edit by hand.',
        '', f'- machine: {platform.machine()}, {os.cpu_count()} cores '
        f'(shared with other jobs), {platform.platform()}',
        f'- torch {torch.__version__}, {threads} thread(s), CPU',
        f'- {iterations} steps per measurement ({psaq_iterations} for PSAQ); '
        'time: the fastest step after the first, over the measurements '
        '(column runs; forward+backward and CLAMP are measured '
        f'{repeats} times by default); each measurement in a fresh process',
        '- memory: peak of live tensor memory over one step (torch '
        'profiler allocations replayed), weights and inputs excluded',
        '- models randomly initialised (weights do not change the cost)',
        f'- wall time of the last run of the benchmark: {elapsed:.0f} s',
        '- on a CPU shared with other jobs, step times vary by up to ~30 % '
        'between runs (a ratio below 1 is such noise); the memory figures '
        'repeat to the byte',
        '', 'Goal (method.md): CLAMP within 1.3x the time and 1.2x the '
        'memory of forward+backward.', ''
    ]
    for case in dict.fromkeys(result['case'] for result in results):
        model_name, batch_size, resolution = CASES[case]
        lines += [
            f'## {case}: batch {batch_size}, '
            f'{resolution[0]}x{resolution[1]}', '',
            MODEL_DESCRIPTIONS[model_name] + '.', '',
            '| method | s / step | x time | peak MiB | x memory | runs |',
            '|---|---|---|---|---|---|'
        ]
        rows = [r for r in results if r['case'] == case]
        base = next((r for r in rows if r['method'] == 'forward+backward'
                     and 'error' not in r), None)
        for row in rows:
            if 'error' in row:
                lines.append(f"| {row['method']} | failed: {row['error']} "
                             '| | | | |')
                continue
            time_ratio = memory_ratio = ''
            if base is not None:
                time_ratio = (
                    f"{row['seconds_per_step'] / base['seconds_per_step']:.2f}"
                )
                memory_ratio = (
                    f"{row['peak_bytes'] / max(1, base['peak_bytes']):.2f}")
            lines.append(f"| {row['method']} | {row['seconds_per_step']:.3f} "
                         f'| {time_ratio} | '
                         f"{row['peak_bytes'] / 2**20:.0f} | {memory_ratio} "
                         f"| {row.get('runs', 1)} |")
        lines.append('')
    return '\n'.join(lines)


def parse_args():
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cases', nargs='+', default=['fmnist-vit',
                                                       'swin-t-512'],
                        choices=sorted(CASES), help='what to measure')
    parser.add_argument('--methods', nargs='+', default=list(METHODS),
                        choices=METHODS, help='baseline and generators')
    parser.add_argument('--iterations', type=int, default=4,
                        help='steps per measurement (default: 4)')
    parser.add_argument('--psaq-iterations', type=int, default=2,
                        help='steps per PSAQ measurement: its density costs '
                        'minutes per step at dense resolutions (default: 2)')
    parser.add_argument('--repeats', type=int, default=2,
                        help='measurements of forward+backward and CLAMP '
                        'per case, fastest kept (default: 2)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch intra-op threads (default: 1)')
    parser.add_argument('--out', default='docs/benchmark_generators.md',
                        help='markdown file to write; the raw results go to '
                        'the same path with .json')
    parser.add_argument('--append', action='store_true',
                        help='keep the results of an earlier run (its .json) '
                        'and add or replace the cases measured now')
    parser.add_argument('--worker', nargs=2, metavar=('CASE', 'METHOD'),
                        help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(measure(*args.worker, args.iterations)))
        return
    started = time.perf_counter()
    results = []
    raw_path = osp.splitext(args.out)[0] + '.json'
    if args.append and osp.isfile(raw_path):
        with open(raw_path) as file:
            results = [
                kept for kept in json.load(file)
                if kept['case'] not in args.cases
            ]
    for case in args.cases:
        order = list(args.methods) + [
            method for method in args.methods if method in REPEATED
        ] * (args.repeats - 1)
        for method in order:
            iterations = (args.psaq_iterations if method.startswith('PSAQ')
                          else args.iterations)
            result = run_worker(case, method, iterations, args.threads)
            print(json.dumps(result), flush=True)
            results = merge_result(results, result)
            # Written after every measurement: a long run cut short still
            # leaves what it measured.
            write_report(
                args.out,
                format_report(results, args.threads, args.iterations,
                              args.psaq_iterations, args.repeats,
                              time.perf_counter() - started))
            with open(raw_path, 'w') as file:
                json.dump(results, file, indent=1)
    print(f'wrote {args.out}')


def merge_result(results, result):
    """Add ``result``; a repeated measurement keeps the fastest time."""
    for index, kept in enumerate(results):
        if (kept['case'], kept['method']) != (result['case'],
                                               result['method']):
            continue
        if 'error' in kept:
            results[index] = result
        elif 'error' not in result:
            kept['seconds_per_step'] = min(kept['seconds_per_step'],
                                           result['seconds_per_step'])
            kept['peak_bytes'] = max(kept['peak_bytes'],
                                     result['peak_bytes'])
            kept['runs'] = kept.get('runs', 1) + 1
        return results
    return results + [result]


def write_report(path, report):
    """Write the markdown page, creating its folder."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as file:
        file.write(report + '\n')


if __name__ == '__main__':
    main()
