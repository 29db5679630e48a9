"""Benchmark every calibration method side by side; write docs/benchmarks.md.

In one process, with the same seeds and the same quantizer, for each model
(Fashion-MNIST ViT / DeiT / Swin classifiers, composite-set Mask R-CNN and
UperNet), seed, setting (W8/A8, W4/A8, W4/A4, optionally W3/A4) and method
(FP; real data; Gaussian noise; PSAQ-ViT v1; PSAQ-ViT v2; CLAMP stage 1;
CLAMP stage 1 + search; full CLAMP with cyclic adaptation; mixed precision
at <= 4.5 average weight bits) this measures accuracy (top-1, or bbox/segm
mAP and mIoU), wall time and peak memory of each stage, model size and
BOPs, and the FP mis-prediction rate of each calibration set; then writes
the results JSON, the figures and the Markdown report with mean and spread
over seeds and the issue's targets. The results JSON is saved after every
cell; running the same command again resumes it (recorded cells are kept,
not run again), and results of another benchmark config at that path are a
one-line error, never overwritten.

Examples::

    # smoke run (a minute or two): tiny budgets, 500 test images
    python tools/benchmark.py --quick --models vit --allow-random-init \\
        --out /tmp/bench/benchmarks.md

    # the Fashion-MNIST ViT, every method, three settings, two seeds
    nice -n 10 python tools/benchmark.py --models vit --seeds 0 1 \\
        --generator-iterations 200 --search-passes 2

    # rebuild the report (and figures) from a saved results file
    python tools/benchmark.py --report-only
"""
import argparse
import ast
import dataclasses
import json
import os
import os.path as osp
import shlex
import sys
from typing import Optional

import torch

# Run from a checkout without `pip install -e .` as well.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from clamp_mm.search.config import QUICK_SEARCH_FIELDS  # noqa: E402

#: Search fields of the --quick preset (SearchConfig.fast's sizes).
QUICK_SEARCH = dict(QUICK_SEARCH_FIELDS)
#: Stage-1 budget and test images of the --quick preset.
QUICK_GENERATOR_ITERATIONS = 8
QUICK_NUM_TEST = 500


def parse_args(argv=None) -> argparse.Namespace:
    from clamp_mm.benchmark import (DEFAULT_SETTINGS, MODEL_SPECS,
                                    BenchmarkConfig)
    defaults = BenchmarkConfig()
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--models', nargs='+', default=list(MODEL_SPECS),
                        choices=list(MODEL_SPECS))
    parser.add_argument('--methods', nargs='+', default=['all'],
                        help='method keys or "all" (default): fp real '
                        'gaussian psaq_v1 psaq_v2 clamp_stage1 clamp_search '
                        'clamp_full mixed; the block reconstructions '
                        'real_recon clamp_recon only when named')
    parser.add_argument('--settings', nargs='+',
                        default=list(DEFAULT_SETTINGS),
                        help='W8/A8 W4/A8 W4/A4 W3/A4 (or w4a4 ...)')
    parser.add_argument('--seeds', nargs='+', type=int, default=None,
                        help='default: 0 1 2 (0 with --quick)')
    parser.add_argument('--quick', action='store_true',
                        help=f'smoke run: {QUICK_GENERATOR_ITERATIONS} '
                        f'stage-1 iterations, search {QUICK_SEARCH}, '
                        f'{QUICK_NUM_TEST} test images, seed 0')
    parser.add_argument('--num-images', type=int, default=32,
                        help='calibration images per source (default 32)')
    parser.add_argument('--generator-iterations', type=int, default=None,
                        help='stage-1 budget (default: method.md, 500)')
    parser.add_argument('--source-iterations', nargs='+', default=[],
                        metavar='SOURCE=N',
                        help='stage-1 budget of single sources, overriding '
                        '--generator-iterations, e.g. psaq_v1=100 '
                        'psaq_v2=100')
    parser.add_argument('--grey-generation', action='store_true',
                        help='CLAMP and PSAQ-ViT generators optimise grey '
                        'images for the Fashion-MNIST classifiers (trained '
                        'on grey images as 3 identical channels)')
    parser.add_argument('--search-passes', type=int, default=None,
                        help='search passes P (default: method.md, 10)')
    parser.add_argument('--search-cycles', type=int, default=None,
                        help='cycles per block visit C (default 6)')
    parser.add_argument('--search-population', type=int, default=None,
                        help='population K (default 15)')
    parser.add_argument('--search-option', nargs='+', default=[],
                        metavar='FIELD=VALUE',
                        help='any other SearchConfig field, e.g. '
                        'mutation_range_low_bits=0.05 (value read as a '
                        'Python literal)')
    parser.add_argument('--mixed-avg-weight-bits', type=float,
                        default=defaults.mixed_avg_weight_bits,
                        help='budget of the mixed method: average weight '
                        'bits (parameter-weighted), default '
                        f'{defaults.mixed_avg_weight_bits}')
    parser.add_argument('--mixed-weight-bits', type=int, nargs='+',
                        default=list(defaults.mixed_weight_bit_choices),
                        metavar='BITS',
                        help='weight bit-widths the mixed method may pick '
                        '(default ' + ' '.join(
                            map(str, defaults.mixed_weight_bit_choices)) +
                        ')')
    parser.add_argument('--reconstruction-option', nargs='+', default=[],
                        metavar='FIELD=VALUE',
                        help='BlockReconstructionCalibrator field of the '
                        'real_recon / clamp_recon methods, e.g. '
                        'iterations=200 (value read as a Python literal)')
    parser.add_argument('--quantizer-option', nargs='+', default=[],
                        metavar='FIELD=VALUE',
                        help='QuantRecipe field over the default quantizer, '
                        'the same for every method (the setting gives the '
                        'bits), e.g. "preset=\'clamp_data_free_linear\'" '
                        '(value read as a Python literal)')
    parser.add_argument('--num-test', type=int, default=None,
                        help='score on the first N images of the scored '
                        'split (default: all; 500 with --quick)')
    parser.add_argument('--eval-split', default='test',
                        choices=['test', 'val'],
                        help='score the classifiers on the 10k test images '
                        '(default; finished models only) or on val, the '
                        '5,000 held-out training images 55000..59999, to '
                        'choose defaults on (real calibration images then '
                        'come from the other 55,000 training images)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (default 1)')
    parser.add_argument('--checkpoint', nargs='+', default=[],
                        metavar='MODEL=PATH',
                        help='float weights other than the default '
                        'checkpoints/... file, e.g. vit=work_dirs/x.pth')
    parser.add_argument('--allow-random-init', action='store_true',
                        help='run a model whose checkpoint is missing with '
                        'its random initialisation (smoke runs only)')
    parser.add_argument('--no-fp-check', action='store_true',
                        help='skip re-scoring each quantized model with '
                        'its quantizers off')
    parser.add_argument('--work-dir', default='work_dirs/benchmark',
                        help='calibration images kept for the figures')
    parser.add_argument('--out', default='docs/benchmarks.md')
    parser.add_argument('--figures-dir', default=None,
                        help='default: <out without .md>/ '
                        '(docs/benchmarks/)')
    parser.add_argument('--results', default=None,
                        help='default: <figures dir>/results.json; if it '
                        'exists, a run of the same benchmark config resumes '
                        'it (recorded cells are not run again)')
    parser.add_argument('--notes', default=None,
                        help='Markdown file appended to the report')
    parser.add_argument('--report-only', action='store_true',
                        help='rebuild report and figures from --results')
    parser.add_argument('--recount-cost', action='store_true',
                        help='with --report-only: count the size and BOPs '
                        'of every cell again from its recorded bits (after '
                        'a change to how costs are counted)')
    parser.add_argument('--merge', nargs='+', default=[],
                        metavar='RESULTS_JSON',
                        help='with --report-only: add the cells of other '
                        'runs (split invocations); a cell already present '
                        '(model, method, setting, seed) is kept as is')
    args = parser.parse_args(argv)
    args.figures_dir = args.figures_dir or osp.splitext(args.out)[0]
    args.results = args.results or osp.join(args.figures_dir, 'results.json')
    args.checkpoints = {}
    for item in args.checkpoint:
        model, separator, path = item.partition('=')
        if not separator or model not in MODEL_SPECS or not path:
            parser.error(f'--checkpoint {item!r}: expected MODEL=PATH with '
                         f'MODEL one of {list(MODEL_SPECS)}')
        args.checkpoints[model] = path
    args.search_options = _literal_options(parser, '--search-option',
                                           args.search_option,
                                           'mutation_range_low_bits=0.05')
    args.reconstruction_options = _literal_options(
        parser, '--reconstruction-option', args.reconstruction_option,
        'iterations=200')
    args.quantizer_options = _literal_options(
        parser, '--quantizer-option', args.quantizer_option,
        "preset='clamp_data_free_linear'")
    budgets = {}
    for item in args.source_iterations:
        source, separator, budget = item.partition('=')
        if not separator or not budget.isdigit():
            parser.error(f'--source-iterations {item!r}: expected SOURCE=N '
                         'with N a whole number, e.g. psaq_v1=100')
        budgets[source] = int(budget)
    args.source_iterations = budgets
    for option in ('merge', 'recount_cost'):
        if getattr(args, option) and not args.report_only:
            parser.error(f"--{option.replace('_', '-')} needs --report-only "
                         '(it rebuilds the report of recorded results)')
    dense = [key for key in args.models if MODEL_SPECS[key].is_dense]
    if args.eval_split != 'test' and dense and not args.report_only:
        parser.error(f'--eval-split {args.eval_split}: only the Fashion-MNIST '
                     f'classifiers have a val split; drop {dense} from '
                     '--models (e.g. --models vit deit swin)')
    if args.seeds is None:
        args.seeds = [0] if args.quick else [0, 1, 2]
    try:  # budgets and search fields checked before anything runs
        from clamp_mm.search import SearchConfig
        SearchConfig(**benchmark_config(args).search)
    except (ValueError, TypeError) as error:
        parser.error(str(error))
    return args


def _literal_options(parser, flag, items, example) -> dict:
    """``FIELD=VALUE`` items as a dict (VALUE a Python literal)."""
    options = {}
    for item in items:
        name, separator, value = item.partition('=')
        try:
            options[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            separator = ''
        if not separator or not name:
            parser.error(f'{flag} {item!r}: expected FIELD=VALUE with VALUE '
                         f'a Python literal, e.g. {example}')
    return options


def benchmark_config(args):
    """The BenchmarkConfig of the command line."""
    from clamp_mm.benchmark import BenchmarkConfig
    search = dict(QUICK_SEARCH) if args.quick else {}
    for option, name in (('search_passes', 'passes'),
                         ('search_cycles', 'cycles'),
                         ('search_population', 'population_size')):
        if getattr(args, option) is not None:
            search[name] = getattr(args, option)
    search.update(args.search_options)
    iterations = args.generator_iterations
    if iterations is None and args.quick:
        iterations = QUICK_GENERATOR_ITERATIONS
    num_test = args.num_test
    if num_test is None and args.quick:
        num_test = QUICK_NUM_TEST
    return BenchmarkConfig(num_images=args.num_images,
                           generator_iterations=iterations,
                           source_iterations=args.source_iterations,
                           search=search,
                           reconstruction=args.reconstruction_options,
                           num_test=num_test,
                           grey_generation=args.grey_generation,
                           eval_split=args.eval_split,
                           quantizer=args.quantizer_options,
                           mixed_avg_weight_bits=args.mixed_avg_weight_bits,
                           mixed_weight_bit_choices=args.mixed_weight_bits)


def write_outputs(args, payload) -> None:
    """Results JSON, figures and report from ``payload``."""
    from clamp_mm.benchmark.plots import write_plots
    from clamp_mm.benchmark.report import save_results, write_report
    from clamp_mm.benchmark.summary import summarise
    save_results(args.results, payload)
    images, normalisation = {}, {}
    for model in payload['run']['origins']:
        path = osp.join(args.work_dir, f'grid_images_{model}.pth')
        if osp.isfile(path):
            saved = torch.load(path, weights_only=True)
            images[model] = saved['images']
            normalisation[model] = (saved['mean'], saved['std'])
    os.makedirs(args.figures_dir, exist_ok=True)
    figures = write_plots(summarise(payload['records']), images,
                          normalisation, payload['run']['metrics'],
                          args.figures_dir)
    notes = None
    if args.notes:
        with open(args.notes) as file:
            notes = file.read()
    write_report(args.out, payload, figures, notes)
    print(f'wrote {args.out}, {args.results} and the figures in '
          f'{args.figures_dir}', flush=True)


def merge_payload(payload: dict, other: dict, origin: str,
                  note: Optional[str] = None) -> None:
    """Add ``other``'s new cells, settings, methods and seeds to
    ``payload``; record its command (followed by ``# note``, by default
    ``# merged: origin``). Runs of different quantizers are not merged
    (one report compares methods under one quantizer)."""
    ours = payload['run'].get('config', {}).get('quantizer', {})
    theirs = other['run'].get('config', {}).get('quantizer', {})
    if ours != theirs:
        raise SystemExit(f'--merge {origin}: its quantizer fields {theirs} '
                         f'differ from the results\' {ours}; one report '
                         'holds one quantizer')
    seen = {(r['model'], r['method'], r['setting'], r['seed'])
            for r in payload['records']}
    for record in other['records']:
        key = (record['model'], record['method'], record['setting'],
               record['seed'])
        if key not in seen:
            seen.add(key)
            payload['records'].append(dict(record, merged_from=origin))
    run, other_run = payload['run'], other['run']
    for field in ('models', 'methods', 'settings', 'seeds'):
        run[field] += [item for item in other_run[field]
                       if item not in run[field]]
    for field in ('origins', 'metrics', 'num_test'):
        for key, value in other_run[field].items():
            run[field].setdefault(key, value)
    if other_run['command'] not in run['command']:
        run['command'] += ('\n' + other_run['command'] +
                           f'  # {note or "merged: " + origin}')


def resumed_payload(results: str, payload: dict) -> dict:
    """What a run fills: ``payload``, or the results an earlier run of the
    same benchmark config saved at ``results`` (its cells are kept and not
    run again: an interrupted benchmark resumes where it stopped).

    Results of another benchmark config there are a one-line error
    (nothing is written): mixing them would put two protocols in one
    report, and starting afresh would overwrite them.
    """
    if not osp.isfile(results):
        return payload
    with open(results) as file:
        previous = json.load(file)
    ours = json.loads(json.dumps(payload['run']['config']))  # as saved
    theirs = previous['run'].get('config', {})
    for field in sorted(set(ours) | set(theirs)):
        if ours.get(field) != theirs.get(field):
            print(f'benchmark.py: error: {results} holds the results of '
                  f'another benchmark config ({field}: '
                  f'{theirs.get(field)!r} there, {ours.get(field)!r} '
                  'here); give this run another --out or --results, or '
                  'delete that file to start afresh', file=sys.stderr)
            raise SystemExit(2)
    merge_payload(previous, payload, results, note='resumed')
    return previous


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from clamp_mm.benchmark import (MODEL_SPECS, METHOD_SPECS, build_task,
                                    load_float_model, parse_methods,
                                    parse_settings)
    from clamp_mm.benchmark.report import environment
    if args.report_only:
        with open(args.results) as file:
            payload = json.load(file)
        for path in args.merge:
            with open(path) as file:
                merge_payload(payload, json.load(file), path)
        if args.recount_cost:
            from clamp_mm.benchmark.recount import recount_costs
            print(f'recounted the cost of {recount_costs(payload)} cells',
                  flush=True)
        payload['run']['report_command'] = ' '.join(
            shlex.quote(part) for part in ['python'] +
            (sys.argv if argv is None else ['tools/benchmark.py'] + argv))
        write_outputs(args, payload)
        return payload
    from clamp_mm.benchmark.runner import run_model_seed
    from clamp_mm.models import find_adapter
    methods = [METHOD_SPECS[key] for key in parse_methods(args.methods)]
    settings = list(parse_settings(args.settings))
    config = benchmark_config(args)
    payload = dict(
        environment=environment(), records=[],
        run=dict(command=' '.join(shlex.quote(part) for part in
                                  ['python'] + sys.argv) if argv is None
                 else 'python tools/benchmark.py ' + ' '.join(
                     shlex.quote(part) for part in argv),
                 models=list(args.models),
                 methods=[method.key for method in methods],
                 settings=settings, seeds=list(args.seeds),
                 config=dataclasses.asdict(config), origins={}, metrics={},
                 num_test={},
                 quantizer_recipe=config.recipe(4, 4).to_dict()))
    payload = resumed_payload(args.results, payload)
    os.makedirs(args.work_dir, exist_ok=True)
    for model_key in args.models:
        spec = MODEL_SPECS[model_key]
        if model_key in args.checkpoints:
            spec = dataclasses.replace(
                spec, checkpoint=args.checkpoints[model_key])
        fp_model, origin = load_float_model(spec, args.allow_random_init)
        adapter = find_adapter(fp_model)
        task = build_task(spec, adapter, config.num_test, config.eval_split)
        task.set_reference(fp_model, adapter)
        payload['run']['origins'][model_key] = origin
        payload['run']['metrics'][model_key] = spec.metrics[0]
        payload['run']['num_test'][model_key] = (
            getattr(task, 'num_test', None) or 'all')
        for seed in args.seeds:
            def on_cell(record):
                payload['records'].append(record)
                payload['load_average_end'] = list(os.getloadavg())
                from clamp_mm.benchmark.report import save_results
                save_results(args.results, payload)

            recorded = {(r['method'], r['setting']): r
                        for r in payload['records']
                        if r['model'] == model_key and r['seed'] == seed}
            grid = run_model_seed(spec, fp_model, task, config, seed,
                                  methods, settings, on_cell,
                                  check_fp=not args.no_fp_check,
                                  recorded=recorded)
            if seed == args.seeds[0] and grid:
                mean, std = adapter.mean_std
                torch.save(dict(images=grid, mean=list(mean), std=list(std)),
                           osp.join(args.work_dir,
                                    f'grid_images_{model_key}.pth'))
            write_outputs(args, payload)
    return payload


if __name__ == '__main__':
    main()
