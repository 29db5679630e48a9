"""Time the full default CLAMP pipeline on a classifier; score it on val.

Runs :func:`clamp_mm.quantize_model` with every default (the CLAMP
generator's 500 iterations, the evolutionary search's 10 passes with
cyclic adaptation, the default quantizer) at one setting, and reports the
time of each stage (generation, observer calibration, search) and, inside
the search, the image refreshes apart from the rest. Top-1 on the
validation split (Fashion-MNIST training images 55000..59999) is measured
for the observer solution (stage 1 alone: the search's start) and for the
finished model; the test split is never read. Search fields can be
overridden for shorter runs (``--search-option passes=2``).

Example::

    CLAMP_NUM_THREADS=1 nice -n 10 python tools/time_pipeline.py \\
        --model vit --setting W4/A4 --out work_dirs/time_pipeline_vit.json
"""
import argparse
import ast
import json
import os
import os.path as osp
import shlex
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

MODELS = ('vit', 'deit', 'swin', 'timm_vit', 'vit_deep')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', default='vit', choices=MODELS)
    parser.add_argument('--setting', default='W4/A4')
    parser.add_argument('--search-option', nargs='+', default=[],
                        metavar='FIELD=VALUE',
                        help='SearchConfig fields to override (Python '
                        'literals); none: the defaults')
    parser.add_argument('--no-search', action='store_true',
                        help='stage 1 only (observers, no calibrator)')
    parser.add_argument('--num-val', type=int, default=5000)
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the generator and the search')
    parser.add_argument('--work-dir', default=None,
                        help='run work dir (default: none, nothing cached)')
    parser.add_argument('--out', default='work_dirs/time_pipeline.json')
    args = parser.parse_args(argv)
    from clamp_mm.benchmark import parse_settings
    from clamp_mm.search import SearchConfig
    try:
        args.setting = parse_settings([args.setting])[0]
        options = {}
        for item in args.search_option:
            name, sep, value = item.partition('=')
            if not sep:
                raise ValueError(f'--search-option {item!r}: expected '
                                 'FIELD=VALUE')
            options[name] = ast.literal_eval(value)
        SearchConfig(**options)
        args.search_options = options
        if not 1 <= args.num_val <= 5000:
            raise ValueError(f'--num-val must be in 1..5000, got '
                             f'{args.num_val}')
    except (ValueError, SyntaxError, TypeError) as error:
        parser.exit(2, f'{parser.prog}: error: {error}\n')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import clamp_mm  # noqa: F401
    from clamp_mm.benchmark import SETTINGS, MODEL_SPECS, load_float_model
    from clamp_mm.benchmark.validation import load_validation_images, top1
    from clamp_mm.models import find_adapter
    from clamp_mm.pipeline import quantize_model
    from clamp_mm.pipeline.loop_config import (DEFAULT_CALIBRATOR,
                                               DEFAULT_GENERATOR)
    from clamp_mm.quant import QuantRecipe
    if 'CLAMP_NUM_THREADS' in os.environ:
        torch.set_num_threads(int(os.environ['CLAMP_NUM_THREADS']))
    fp_model, origin = load_float_model(MODEL_SPECS[args.model])
    val_images, val_labels = load_validation_images(find_adapter(fp_model),
                                                    args.num_val)
    weight_bits, act_bits = SETTINGS[args.setting]
    recipe = QuantRecipe(weight_bits=weight_bits, act_bits=act_bits)
    generator = dict(DEFAULT_GENERATOR, seed=args.seed, progress=False)
    calibrator = None if args.no_search else dict(
        DEFAULT_CALIBRATOR, seed=args.seed, progress_bar=False,
        **args.search_options)
    scores = {}

    def score_stage1(model, adapter):
        start = time.perf_counter()
        scores['stage1_val'] = top1(adapter, val_images, val_labels)
        scores['stage1_scoring_s'] = time.perf_counter() - start

    started = time.perf_counter()
    result = quantize_model(fp_model, recipe, generator, calibrator,
                            work_dir=args.work_dir,
                            on_calibrated=score_stage1)
    wall = time.perf_counter() - started - scores['stage1_scoring_s']
    final_val = top1(result.adapter, val_images, val_labels)
    search_times = dict(result.search.times) if result.search else {}
    stages = dict(result.stage_seconds)
    row = dict(
        model=args.model, origin=origin, setting=args.setting,
        recipe=recipe.to_dict(), generator=generator, calibrator=calibrator,
        threads=torch.get_num_threads(), num_val=args.num_val,
        stage1_val=scores['stage1_val'], final_val=final_val,
        pipeline_s=wall, stage_seconds=stages,
        # The search stage split: image refreshes apart from the rest.
        search_s=stages.get('search', 0.0) - search_times.get('refresh', 0.0),
        refresh_s=search_times.get('refresh', 0.0),
        search_times=search_times,
        refreshes=sum(e.get('refreshed', False)
                      for e in (result.search.history
                                if result.search else [])),
        command='python tools/time_pipeline.py ' + ' '.join(
            shlex.quote(a) for a in (argv if argv is not None
                                     else sys.argv[1:])))
    print(json.dumps(row, indent=1), flush=True)
    os.makedirs(osp.dirname(args.out) or '.', exist_ok=True)
    with open(args.out, 'w') as file:
        json.dump(row, file, indent=1)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
