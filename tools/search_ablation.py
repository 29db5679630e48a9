"""Search variants side by side on the validation split; test on request.

For one classifier and setting: CLAMP stage-1 images (cached), min-max
observers (stage 1 alone), then each search variant from the same start;
every model is scored on the validation split (Fashion-MNIST training
images 55000..59999), which is what defaults are chosen on. ``--score-test``
also scores the finished models on the 10k test images (only to report
the chosen variant, never to choose).

Each variant is ``NAME:field=value,field=value`` of SearchConfig fields,
e.g. ``old:mutation_mode='relative',fitness='info_nce'`` (dicts too:
``mp:mixed_precision=dict(weight_bit_choices=(3,4,5),avg_weight_bits=3.5)``).
Every variant gets the CLAMP generator as its refresher (``refresher=
dict(...)`` changes its fields for that variant); it refreshes when its
``cyclic_adaptation`` is on (``--refresh`` for the variants that do not
say). The recipe is ``QuantRecipe(weight_bits, act_bits)``: the default
quantizer of this checkout, recorded in the output.

Example::

    CLAMP_NUM_THREADS=1 nice -n 15 python tools/search_ablation.py \\
        --model vit --passes 2 --variants \\
        "old:mutation_mode='relative'" "levels:mutation_levels=0.5"
"""
import argparse
import ast
import copy
import json
import os
import os.path as osp
import shlex
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


#: Variant key that is no SearchConfig field: ClampGenerator fields of the
#: refresher (e.g. ``refresher=dict(adaptive_weight=10.0)``).
REFRESHER_KEY = 'refresher'


def parse_variant(text: str):
    """``NAME:a=1,b='x',c=dict(d=2)`` -> (NAME, {a: 1, b: 'x', c: {d: 2}}).

    The fields are Python keyword arguments of literals (``dict(...)`` and
    ``{...}`` included, so a ``mixed_precision`` config fits).
    """
    name, _, fields = text.partition(':')
    if not name:
        raise ValueError(f'variant {text!r}: expected NAME:field=value,...')
    if not fields.strip():
        return name, {}
    try:
        call = ast.parse(f'f({fields})', mode='eval').body
    except SyntaxError:
        raise ValueError(f'variant {text!r}: expected NAME:field=value,... '
                         'with Python literals') from None
    if call.args or any(k.arg is None for k in call.keywords):
        raise ValueError(f'variant {text!r}: every field needs a name '
                         '(field=value)')
    return name, {k.arg: _literal(k.value, text) for k in call.keywords}


def _literal(node, text: str):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id == 'dict' and not node.args:
        return {k.arg: _literal(k.value, text) for k in node.keywords}
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(f'variant {text!r}: {ast.unparse(node)} is not a '
                         'literal') from None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', default='vit',
                        choices=['vit', 'deit', 'swin', 'timm_vit',
                                 'vit_deep'])
    parser.add_argument('--setting', default='W4/A4')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--passes', type=int, default=2)
    parser.add_argument('--generator-iterations', type=int, default=500)
    parser.add_argument('--num-images', type=int, default=32,
                        help='synthetic images the search scores on. '
                        'Defaults to 32 (the method\'s).')
    parser.add_argument('--refresh', action='store_true',
                        help='cyclic adaptation (refresh with the CLAMP '
                        'generator) for variants that do not set '
                        'cyclic_adaptation; off by default')
    parser.add_argument('--variants', nargs='+', required=True)
    parser.add_argument('--score-test', action='store_true')
    parser.add_argument('--work-dir', default='work_dirs/fitness_diagnostic')
    parser.add_argument('--out', default='work_dirs/search_ablation.json')
    args = parser.parse_args(argv)
    from clamp_mm.benchmark import parse_settings
    from clamp_mm.search import SearchConfig
    try:
        args.setting = parse_settings([args.setting])[0]
        args.variants = [parse_variant(v) for v in args.variants]
        for _, options in args.variants:
            refresher = options.get(REFRESHER_KEY, {})
            if not isinstance(refresher, dict):
                raise ValueError(f'{REFRESHER_KEY} must be a dict of '
                                 f'ClampGenerator fields, got {refresher!r}')
            SearchConfig(**{k: v for k, v in options.items()
                            if k != REFRESHER_KEY})
        if args.passes < 1:
            raise ValueError(f'--passes must be >= 1, got {args.passes}')
        if args.num_images < 1:
            raise ValueError(f'--num-images must be >= 1, got '
                             f'{args.num_images}')
    except (ValueError, SyntaxError, TypeError) as error:
        parser.exit(2, f'{parser.prog}: error: {error}\n')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import clamp_mm  # noqa: F401
    from clamp_mm.benchmark import (SETTINGS, BenchmarkConfig, MODEL_SPECS,
                                    load_float_model)
    from clamp_mm.benchmark.runner import _build_generator
    from clamp_mm.benchmark.validation import load_validation_images, top1
    from clamp_mm.datasets.fashion_mnist import load_fashion_mnist_images
    from clamp_mm.models import calibrate_observers, find_adapter
    from clamp_mm.quant import QuantRecipe
    from clamp_mm.search import EvolutionaryCalibrator, SearchConfig
    from clamp_mm.synth import SyntheticImageDataset
    if 'CLAMP_NUM_THREADS' in os.environ:
        torch.set_num_threads(int(os.environ['CLAMP_NUM_THREADS']))
    spec = MODEL_SPECS[args.model]
    fp_model, origin = load_float_model(spec)
    adapter = find_adapter(fp_model)
    val_images, val_labels = load_validation_images(adapter)
    test = None
    if args.score_test:
        mean, std = adapter.mean_std
        test = load_fashion_mnist_images(
            10000, split='test', image_size=adapter.input_size[0], seed=None,
            mean=mean, std=std, return_labels=True)
    generator_cfg = BenchmarkConfig(
        generator_iterations=args.generator_iterations).generator_cfg(
            'clamp', args.seed)
    generator = _build_generator(generator_cfg)
    os.makedirs(args.work_dir, exist_ok=True)
    generation_start = time.perf_counter()
    count = '' if args.num_images == 32 else f'_n{args.num_images}'
    images = SyntheticImageDataset.load_or_generate(
        osp.join(args.work_dir, f'{args.model}_clamp_seed{args.seed}_'
                 f'it{args.generator_iterations}{count}.pth'), generator,
        adapter, args.num_images, overwrite=True).images
    generation_s = time.perf_counter() - generation_start
    weight_bits, act_bits = SETTINGS[args.setting]
    start_model = copy.deepcopy(fp_model)
    recipe = QuantRecipe(weight_bits=weight_bits, act_bits=act_bits)
    calibrate_observers(start_model, recipe, images, None,
                        find_adapter(start_model))

    def scores(model):
        model_adapter = find_adapter(model)
        result = dict(val=top1(model_adapter, val_images, val_labels))
        if test is not None:
            result['test'] = top1(model_adapter, *test)
        return result

    rows = [dict(variant='stage 1 (observers, no search)', options={},
                 seconds=0.0, **scores(start_model))]
    print(json.dumps(rows[-1]), flush=True)
    for name, options in args.variants:
        model = copy.deepcopy(start_model)
        fields = dict(passes=args.passes, progress_bar=False, plots=False,
                      seed=args.seed, cyclic_adaptation=args.refresh)
        fields.update({k: v for k, v in options.items()
                       if k != REFRESHER_KEY})
        config = SearchConfig(**fields)
        refresher = generator
        if options.get(REFRESHER_KEY):
            refresher = _build_generator(dict(
                generator_cfg, **options[REFRESHER_KEY]))
        started = time.perf_counter()
        result = EvolutionaryCalibrator(config).calibrate(
            model, images, refresh_fn=refresher)
        history = result.history
        refreshed = [e for e in history if e.get('refreshed')]
        rows.append(dict(
            variant=name, options=options,
            cyclic_adaptation=config.cyclic_adaptation,
            seconds=time.perf_counter() - started,
            search_times=result.times, metrics=result.metrics,
            level_change_share=sum(e['level_change_share'] for e in history)
            / len(history),
            accepted_rate=sum(e['accepted_rate'] for e in history) /
            len(history),
            refreshes=len(refreshed),
            disagreement_before=_mean(
                [e.get('disagreement_before') for e in refreshed]),
            disagreement_after=_mean(
                [e.get('disagreement_after') for e in refreshed]),
            **scores(model)))
        print(json.dumps(rows[-1]), flush=True)
    payload = dict(model=args.model, origin=origin, setting=args.setting,
                   recipe=recipe.to_dict() if hasattr(recipe, 'to_dict')
                   else repr(recipe),
                   generation_s=generation_s,
                   seed=args.seed, passes=args.passes, refresh=args.refresh,
                   num_images=args.num_images,
                   threads=torch.get_num_threads(),
                   command='python tools/search_ablation.py ' + ' '.join(
                       shlex.quote(a) for a in (argv or sys.argv[1:])),
                   rows=rows)
    os.makedirs(osp.dirname(args.out) or '.', exist_ok=True)
    with open(args.out, 'w') as file:
        json.dump(payload, file, indent=1)
    print(f'wrote {args.out}')
    return 0


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


if __name__ == '__main__':
    sys.exit(main())
