"""Quantizer ablation: each component on and off, both protocols.

Every cell calibrates a fresh copy of the float classifier on 32 images
(real training images outside the validation range, or CLAMP stage-1
images at method.md's budget, cached per model and seed) and scores top-1
on the validation split (training images 55000..59999, for choosing) or the
10k test images (for scoring finished recipes). Results are appended to a
JSON-lines file (a rerun skips what is there) and rendered as markdown.

Example::

    CLAMP_NUM_THREADS=1 python tools/ablate_quantizer.py --models vit deit \\
        --settings W4/A4 --sources real --eval-split val \\
        --results work_dirs/ablation/val.jsonl --out docs/quantizer_ablation_val.md

Bad input: one line on stderr, exit status 2, nothing written.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

EXIT_BAD_INPUT = 2


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', nargs='+', default=['vit', 'deit', 'swin'])
    parser.add_argument('--settings', nargs='+', default=['W4/A4'])
    parser.add_argument('--protocols', nargs='+', default=['linear', 'full'])
    parser.add_argument('--sources', nargs='+', default=['real'],
                        help='real and/or clamp (CLAMP stage 1)')
    parser.add_argument('--variants', nargs='+', default=None,
                        help='rows to run (default: all); see '
                        'clamp_mm.benchmark.ablation.variants')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0])
    parser.add_argument('--eval-split', default='val', choices=['val', 'test'])
    parser.add_argument('--num-eval', type=int, default=None,
                        help='score only the first N evaluation images')
    parser.add_argument('--num-images', type=int, default=32)
    parser.add_argument('--results', default='work_dirs/ablation/results.jsonl')
    parser.add_argument('--cache-dir', default='work_dirs/ablation/images')
    parser.add_argument('--out', default=None,
                        help='markdown file for the tables of --results')
    parser.add_argument('--target-variant', default='preset clamp_full',
                        help='the row whose test cells --out judges '
                        "against issue 13's targets")
    return parser.parse_args(argv)


def fail(message: str) -> None:
    print(f'ablate_quantizer.py: error: {message}', file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def validate(args) -> None:
    from clamp_mm.benchmark.ablation import select_variants
    from clamp_mm.benchmark.methods import SETTINGS
    from clamp_mm.benchmark.tasks import MODEL_SPECS
    from clamp_mm.quant import PROTOCOLS
    for model in args.models:
        if model not in MODEL_SPECS or MODEL_SPECS[model].task != \
                'classification':
            fail(f'unknown classifier {model!r}; expected some of '
                 f'{[k for k, s in MODEL_SPECS.items() if s.task == "classification"]}')
    for setting in args.settings:
        if setting not in SETTINGS:
            fail(f'unknown setting {setting!r}; expected some of '
                 f'{list(SETTINGS)}')
    for protocol in args.protocols:
        if protocol not in PROTOCOLS:
            fail(f'unknown protocol {protocol!r}; expected some of '
                 f'{sorted(PROTOCOLS)}')
    for source in args.sources:
        if source not in ('real', 'clamp'):
            fail(f"unknown source {source!r}; expected 'real' or 'clamp'")
    try:
        for protocol in args.protocols:
            select_variants(protocol, args.variants)
    except ValueError as error:
        fail(str(error))


def main(argv=None) -> None:
    args = parse_args(argv)
    import clamp_mm  # noqa: F401  (thread count, registries)
    validate(args)
    from clamp_mm.benchmark.ablation import (AblationCell, clamp_images,
                                             evaluation_images,
                                             read_results,
                                             real_calibration_images,
                                             run_cells, select_variants, top1)
    from clamp_mm.benchmark.ablation_report import (ablation_tables,
                                                    target_table)
    from clamp_mm.benchmark.tasks import MODEL_SPECS, load_float_model
    from clamp_mm.models import find_adapter
    os.makedirs(osp.dirname(osp.abspath(args.results)), exist_ok=True)
    for model_key in args.models:
        fp_model, _ = load_float_model(MODEL_SPECS[model_key])
        adapter = find_adapter(fp_model)
        evaluation = evaluation_images(adapter, args.eval_split,
                                       args.num_eval)
        fp_top1 = top1(adapter, *evaluation)
        print(f'{model_key}: FP top-1 {fp_top1:.2f} on {len(evaluation[1])} '
              f'{args.eval_split} images', flush=True)
        images = {}
        for seed in args.seeds:
            for source in args.sources:
                images[(source, seed)] = (
                    real_calibration_images(adapter, args.num_images, seed)
                    if source == 'real' else clamp_images(
                        fp_model, adapter, model_key, args.num_images, seed,
                        args.cache_dir))
        cells = [
            AblationCell(model_key, args.eval_split, setting, protocol,
                         source, seed, variant)
            for setting in args.settings for protocol in args.protocols
            for source in args.sources for seed in args.seeds
            for variant in select_variants(protocol, args.variants)
        ]
        for record in run_cells(fp_model, adapter, model_key, cells, images,
                                evaluation, args.results, fp_top1,
                                args.num_images):
            print(f"{model_key} {record['setting']} {record['protocol']:6s} "
                  f"{record['source']:5s} s{record['seed']} "
                  f"{record['variant']:22s} {record['top1']:6.2f} "
                  f"({record['delta']:+.2f}) "
                  f"{record['calibrate_seconds']:.1f}+"
                  f"{record['eval_seconds']:.1f}s", flush=True)
    if args.out:
        records = list(read_results(args.results).values())
        with open(args.out, 'w') as file:
            file.write(f'## Targets ({args.target_variant!r}, test split)'
                       '\n\n' + target_table(records, args.target_variant) +
                       '\n' + ablation_tables(records) + '\n')


if __name__ == '__main__':
    main()
