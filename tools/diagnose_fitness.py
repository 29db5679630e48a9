"""Which search fitness predicts accuracy? Write docs/fitness_diagnostic.md.

For each classifier: CLAMP stage-1 images (the search's synthetic batch),
min-max observers at the chosen setting (the quantizer on this branch), then
candidates around that observer solution at several mutation steps, one
block at a time and for the whole model; every fitness variant is computed
on the synthetic batch and compared, by Spearman rank correlation, with
top-1 on the validation split (Fashion-MNIST training images 55000..59999).
The test split is never read.

Examples::

    CLAMP_NUM_THREADS=1 nice -n 15 python tools/diagnose_fitness.py \\
        --models vit --setting W4/A4
    # rebuild the report from the saved records
    python tools/diagnose_fitness.py --report-only
"""
import argparse
import dataclasses
import json
import os
import os.path as osp
import shlex
import sys
import time

import torch

# Run from a checkout without `pip install -e .` as well.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

DEFAULT_OUT = 'docs/fitness_diagnostic.md'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', default=['vit'],
                        choices=['vit', 'deit', 'swin', 'timm_vit',
                                 'vit_deep'])
    parser.add_argument('--setting', default='W4/A4',
                        help='W8/A8 W4/A8 W4/A4 W3/A4 (default W4/A4)')
    parser.add_argument('--steps', nargs='+', type=float,
                        default=[0.25, 0.5, 1.0, 2.0],
                        help='mutation steps in rounding levels')
    parser.add_argument('--candidates-per-step', type=int, default=6)
    parser.add_argument('--num-images', type=int, default=32,
                        help='synthetic images (default 32)')
    parser.add_argument('--generator-iterations', type=int, default=500,
                        help='CLAMP stage-1 iterations (default 500)')
    parser.add_argument('--num-val', type=int, default=5000,
                        help='validation images (default all 5000)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--work-dir', default='work_dirs/fitness_diagnostic',
                        help='image cache and records')
    parser.add_argument('--out', default=DEFAULT_OUT)
    parser.add_argument('--report-only', action='store_true',
                        help='rebuild the report from the saved records')
    args = parser.parse_args(argv)
    from clamp_mm.benchmark import parse_settings
    try:
        args.setting = parse_settings([args.setting])[0]
    except ValueError as error:
        parser.exit(2, f'{parser.prog}: error: --setting: {error}\n')
    if args.candidates_per_step < 1:
        parser.exit(2, f'{parser.prog}: error: --candidates-per-step must '
                    f'be >= 1, got {args.candidates_per_step}\n')
    from clamp_mm.benchmark import BenchmarkConfig
    try:  # the image budgets are the benchmark's, checked where it checks
        BenchmarkConfig(num_images=args.num_images,
                        generator_iterations=args.generator_iterations)
    except ValueError as error:
        parser.exit(2, f'{parser.prog}: error: {error}\n')
    if min(args.steps) <= 0:
        parser.exit(2, f'{parser.prog}: error: --steps must be > 0, got '
                    f'{args.steps}\n')
    if not 1 <= args.num_val <= 5000:
        parser.exit(2, f'{parser.prog}: error: --num-val must be in '
                    f'1..5000, got {args.num_val}\n')
    return args


def records_path(work_dir: str, model: str) -> str:
    return osp.join(work_dir, f'{model}_records.json')


def diagnose_model(key: str, args) -> dict:
    """Run the diagnostic on one classifier; returns the saved payload."""
    from clamp_mm.benchmark import (SETTINGS, BenchmarkConfig, MODEL_SPECS,
                                    load_float_model)
    from clamp_mm.benchmark.runner import _build_generator
    from clamp_mm.benchmark.validation import (correct,
                                               load_validation_images, top1)
    from clamp_mm.models import calibrate_observers, find_adapter
    from clamp_mm.quant import QuantRecipe
    from clamp_mm.search.fitness_diagnostic import FitnessDiagnostic
    from clamp_mm.synth import SyntheticImageDataset
    spec = MODEL_SPECS[key]
    fp_model, origin = load_float_model(spec)
    adapter = find_adapter(fp_model)
    val_images, val_labels = load_validation_images(adapter, args.num_val)
    fp_top1 = top1(adapter, val_images, val_labels)
    generator = _build_generator(
        BenchmarkConfig(generator_iterations=args.generator_iterations)
        .generator_cfg('clamp', args.seed))
    os.makedirs(args.work_dir, exist_ok=True)
    start = time.perf_counter()
    images = SyntheticImageDataset.load_or_generate(
        osp.join(args.work_dir, f'{key}_clamp_seed{args.seed}_'
                 f'it{args.generator_iterations}.pth'), generator, adapter,
        args.num_images, overwrite=True).images
    generation_s = time.perf_counter() - start
    weight_bits, act_bits = SETTINGS[args.setting]
    import copy
    model = copy.deepcopy(fp_model)
    quantized_adapter = find_adapter(model)
    calibrate_observers(model,
                        QuantRecipe(weight_bits=weight_bits,
                                    act_bits=act_bits), images, None,
                        quantized_adapter)
    diagnostic = FitnessDiagnostic(
        model, images,
        lambda: correct(quantized_adapter, val_images, val_labels),
        args.steps, args.candidates_per_step, args.seed)
    start = time.perf_counter()
    records = diagnostic.sample_all()
    payload = dict(
        model=key, origin=origin, setting=args.setting,
        fp_val_top1=fp_top1, num_val=args.num_val,
        steps=args.steps, candidates_per_step=args.candidates_per_step,
        generator_iterations=args.generator_iterations, seed=args.seed,
        generation_s=generation_s,
        diagnostic_s=time.perf_counter() - start,
        threads=torch.get_num_threads(),
        command='python tools/diagnose_fitness.py ' + ' '.join(
            shlex.quote(a) for a in sys.argv[1:]),
        records=[dataclasses.asdict(r) for r in records])
    with open(records_path(args.work_dir, key), 'w') as file:
        json.dump(payload, file, indent=1)
    return payload


def main(argv=None) -> int:
    args = parse_args(argv)
    import clamp_mm  # noqa: F401  (registries, compat patches)
    from clamp_mm.search.fitness_report import write_report
    if 'CLAMP_NUM_THREADS' in os.environ:
        torch.set_num_threads(int(os.environ['CLAMP_NUM_THREADS']))
    payloads = []
    for key in args.models:
        path = records_path(args.work_dir, key)
        if args.report_only:
            if not osp.isfile(path):
                print(f'no saved records for model {key!r} at {path}: run '
                      'without --report-only first', file=sys.stderr)
                return 2
            with open(path) as file:
                payloads.append(json.load(file))
        else:
            payloads.append(diagnose_model(key, args))
    write_report(payloads, args.out)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
