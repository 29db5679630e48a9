"""Cost and effect of the evolutionary search on the Fashion-MNIST models.

For each Fashion-MNIST classifier (configs/fashion_mnist/, checkpoints/
fmnist_<model>.pth) this:

1. synthesizes the calibration batch from the float model with the CLAMP
   generator (cached in the work dir, shared by every setting);
2. per setting (W4/A8, W4/A4): quantizes with the min-max observers on
   that batch ("observer", the search's start), then runs the evolutionary
   search with cyclic adaptation ("search");
3. measures top-1 on the Fashion-MNIST test split for the float model, the
   observer solution and the search result (the test labels are only read
   here, after the search: the search never sees them);
4. measures the search's cost against its unit, one block forward: the
   ratio of the search wall time (image refreshes excluded: they are stage
   1's cost) to the time of its block forwards alone, both taken inside the
   same run so that the load of this shared machine affects both alike.
   Goal of the issue: <= 2.

Each (model, setting) result is saved as JSON in the work dir as soon as it
is done, and the report is rebuilt from every JSON there, so the runs can
be split over several invocations.

Example:
    nice -n 10 python tools/benchmark_search.py --models vit deit swin \
        --threads 1 --out docs/benchmark_search.md
"""
import argparse
import copy
import glob
import json
import os
import os.path as osp
import platform
import statistics
import sys
import time

import torch

# Run from a checkout without `pip install -e .` as well.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Weight / activation bits of the settings measured.
SETTINGS = {'W4/A8': (4, 8), 'W4/A4': (4, 4)}
#: Search presets: the method's defaults, or a shorter search.
PRESETS = {
    'method': dict(),
    'short': dict(passes=2),
    # Not the method's constants: 10x wider mutations, to see whether the
    # fitness landscape rewards larger steps.
    'short-wide': dict(passes=2, mutation_range_low_bits=1e-2,
                       mutation_range_high_bits=1e-3),
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', default=['vit', 'deit', 'swin'],
                        help='configs/fashion_mnist/<model>_fmnist.py')
    parser.add_argument('--settings', nargs='+', default=list(SETTINGS),
                        choices=list(SETTINGS))
    parser.add_argument('--preset', default='method', choices=list(PRESETS),
                        help='search hyper-parameters: method.md defaults; '
                        'short = 2 passes instead of 10; short-wide = short '
                        'with 10x the mutation ranges')
    parser.add_argument('--no-cyclic', action='store_true',
                        help='ablation: no image refresh during the search')
    parser.add_argument('--num-images', type=int, default=32,
                        help='synthetic calibration images')
    parser.add_argument('--generator-iterations', type=int, default=500,
                        help='CLAMP generator iterations (stage 1)')
    parser.add_argument('--num-test', type=int, default=10000,
                        help='test images for top-1 (first N of the split)')
    parser.add_argument('--checkpoint-dir', default='checkpoints',
                        help='where fmnist_<model>.pth are')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--work-dir', default='work_dirs/benchmark_search')
    parser.add_argument('--out', default='docs/benchmark_search.md')
    parser.add_argument('--report-only', action='store_true',
                        help='only rebuild the report from saved results')
    parser.add_argument('--note', default='',
                        help='markdown paragraph added to the report under '
                        '"Notes" (e.g. where the checkpoints came from)')
    return parser.parse_args(argv)


def load_classifier(model_key: str, checkpoint_dir: str = 'checkpoints'):
    """The trained float Fashion-MNIST classifier ``model_key`` and its
    config's data preprocessor (mean and std of the real images)."""
    from mmengine.config import Config

    from clamp_mm.pipeline.float_model import load_float_model
    config_path = f'configs/fashion_mnist/{model_key}_fmnist.py'
    checkpoint = osp.join(checkpoint_dir, f'fmnist_{model_key}.pth')
    for path in (config_path, checkpoint):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path} is missing: train it with '
                                    f'tools/train_classifier.py {config_path}')
    model, _ = load_float_model(config_path, checkpoint, 'mmpretrain')
    preprocessor = Config.fromfile(config_path).get('data_preprocessor', {})
    # The timm model inside a TimmClassifier (timm_vit), else the model.
    from clamp_mm.engine.target_module import resolve_target
    _, model, _ = resolve_target(model)
    return model.eval(), preprocessor


@torch.no_grad()
def top1(adapter, images: torch.Tensor, labels: torch.Tensor,
         batch_size: int = 500) -> float:
    """Top-1 accuracy in percent."""
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = adapter.forward_images(images[start:start + batch_size])
        correct += int((logits.argmax(-1) ==
                        labels[start:start + batch_size]).sum())
    return 100.0 * correct / len(images)


def synthetic_images(model, args, path: str) -> torch.Tensor:
    """The CLAMP batch for ``model``, generated once and cached at ``path``
    (reused only for the same model, generator config, seed and size)."""
    from clamp_mm.models import find_adapter
    from clamp_mm.pipeline import synthesize
    from clamp_mm.synth import ClampGenerator
    generator = ClampGenerator(batch_size=args.num_images, seed=args.seed,
                               iterations=args.generator_iterations,
                               progress=False)
    start = time.perf_counter()
    dataset, reused = synthesize(generator, find_adapter(model),
                                 args.num_images, cache_file=path)
    if not reused:
        print(f'generated {args.num_images} images in '
              f'{time.perf_counter() - start:.1f} s', flush=True)
    return dataset.images


@torch.no_grad()
def standalone_block_forward(model, images: torch.Tensor,
                             repeats: int = 10) -> float:
    """Mean over blocks of the median block-forward time (cross-check)."""
    from clamp_mm.models import find_adapter
    from clamp_mm.search.block_cache import record_block_io, run_block
    adapter = find_adapter(model)
    records, _ = record_block_io(lambda: adapter.forward_images(images),
                                 adapter.blocks())
    medians = []
    for name, block in adapter.blocks():
        run_block(block, records[name])
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            run_block(block, records[name])
            samples.append(time.perf_counter() - start)
        medians.append(statistics.median(samples))
    return sum(medians) / len(medians)


def run_one(model_key: str, setting: str, args, test_images, test_labels,
            float_model, images) -> dict:
    from clamp_mm.pipeline import quantize_model
    from clamp_mm.search import EvolutionaryCalibrator, SearchConfig
    from clamp_mm.synth import ClampGenerator
    weight_bits, act_bits = SETTINGS[setting]
    model = copy.deepcopy(float_model)
    tag = f'{model_key}_{setting.replace("/", "")}' + (
        '_nocyclic' if args.no_cyclic else '') + f'_{args.preset}'
    config = SearchConfig(work_dir=osp.join(args.work_dir, tag),
                          resume=False, progress_bar=False, seed=args.seed,
                          cyclic_adaptation=not args.no_cyclic,
                          **PRESETS[args.preset])
    refresher = ClampGenerator(batch_size=args.num_images, seed=args.seed,
                               progress=False)
    observer = {}

    def score_observers(quantized, adapter):
        observer['top1'] = top1(adapter, test_images, test_labels)

    quantized = quantize_model(
        model, dict(weight_bits=weight_bits, act_bits=act_bits), refresher,
        EvolutionaryCalibrator(config), images=images,
        on_calibrated=score_observers)
    adapter, result = quantized.adapter, quantized.search
    observer_top1 = observer['top1']
    observer_seconds = quantized.stage_seconds['calibrate']
    search_top1 = top1(adapter, test_images, test_labels)
    times = result.times
    search_seconds = times['total'] - times['refresh']
    return dict(
        model=model_key, setting=setting, preset=args.preset,
        cyclic=not args.no_cyclic, config=config.fingerprint(),
        num_images=args.num_images, num_test=len(test_labels),
        observer_top1=observer_top1, search_top1=search_top1,
        observer_seconds=observer_seconds,
        num_scored=result.num_scored, times=times,
        ratio_search=search_seconds / times['block_forward'],
        ratio_scoring=times['scoring'] / times['block_forward'],
        block_forward_ms=1e3 * times['block_forward'] / result.num_scored,
        standalone_block_forward_ms=1e3 *
        standalone_block_forward(model, images),
        metrics=result.metrics, threads=torch.get_num_threads())


def write_report(args) -> None:
    results = []
    for path in sorted(glob.glob(osp.join(args.work_dir, 'result_*.json'))):
        with open(path) as file:
            results.append(json.load(file))
    floats = {}
    for path in glob.glob(osp.join(args.work_dir, 'float_*.json')):
        with open(path) as file:
            entry = json.load(file)
        floats[entry['model']] = entry
    lines = [
        '# Benchmark: the evolutionary search (stage 2)', '',
        'Written by `tools/benchmark_search.py`; rerun it to refresh. '
        'Fashion-MNIST classifiers of `configs/fashion_mnist/` '
        '(`checkpoints/fmnist_<model>.pth`), calibration on synthetic '
        'images of the CLAMP generator only; top-1 on the Fashion-MNIST '
        'test split, read only after the search.', '',
        f'Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared '
        'with other jobs (timings vary with the load), torch '
        f'{torch.__version__}, threads per result below.', '',
        '## Accuracy and cost', '',
        '| model | setting | search | FP top-1 | observer top-1 | search '
        'top-1 | change | candidates | search s | refresh s | block fwd ms '
        '| ratio search / block fwds | ratio scoring / block fwds | threads |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'
    ]
    for entry in results:
        fp = floats.get(entry['model'], {}).get('top1', float('nan'))
        times = entry['times']
        preset = entry['preset'] + ('' if entry['cyclic'] else ', no cyclic')
        lines.append(
            f'| {entry["model"]} | {entry["setting"]} | {preset} | '
            f'{fp:.2f} | {entry["observer_top1"]:.2f} | '
            f'{entry["search_top1"]:.2f} | '
            f'{entry["search_top1"] - entry["observer_top1"]:+.2f} | '
            f'{entry["num_scored"]} | '
            f'{times["total"] - times["refresh"]:.1f} | '
            f'{times["refresh"]:.1f} | {entry["block_forward_ms"]:.2f} | '
            f'{entry["ratio_search"]:.2f} | {entry["ratio_scoring"]:.2f} | '
            f'{entry["threads"]} |')
    lines += [
        '', 'Columns: *observer* = min-max observers on the synthetic batch '
        '(the search\'s start); *search* = after the evolutionary search; '
        '*candidates* = candidates scored (children plus population '
        're-scored at each block visit and refresh); *search s* = search wall '
        'time without the image refreshes (stage 1 work, in *refresh s*); '
        '*block fwd ms* = mean time of one block forward on the batch, '
        'measured inside the search; *ratio search / block fwds* = search '
        'wall time / (candidates x one block forward), the issue\'s goal '
        'being <= 2; *ratio scoring* = the same for the scoring alone '
        '(genome write, block forward, InfoNCE).', ''
    ]
    if results:
        lines += ['## Settings', '']
        for entry in results[:1]:
            config = {k: v for k, v in entry['config'].items()
                      if k != 'mixed_precision'}
            lines.append(f'Search config (`{entry["preset"]}` preset): '
                         f'`{json.dumps(config)}`.')
        lines.append('')
        lines.append('Cross-check of the unit: block forward time measured '
                     'alone after the search (ms): ' + ', '.join(
                         f'{e["model"]} {e["setting"]} '
                         f'{e["standalone_block_forward_ms"]:.2f}'
                         for e in results) + '.')
        lines.append('')
    if args.note:
        lines += ['## Notes', '', args.note, '']
    os.makedirs(osp.dirname(args.out) or '.', exist_ok=True)
    with open(args.out, 'w') as file:
        file.write('\n'.join(lines) + '\n')
    print(f'wrote {args.out}')


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.makedirs(args.work_dir, exist_ok=True)
    if args.report_only:
        write_report(args)
        return
    from clamp_mm.datasets.fashion_mnist import load_fashion_mnist_images
    from clamp_mm.models import find_adapter
    for model_key in args.models:
        float_model, preprocessor = load_classifier(model_key,
                                                    args.checkpoint_dir)
        test_images, test_labels = load_fashion_mnist_images(
            args.num_test, split='test', seed=None,
            mean=preprocessor.get('mean', (72.79, ) * 3),
            std=preprocessor.get('std', (86.29, ) * 3), return_labels=True)
        float_top1 = top1(find_adapter(float_model), test_images,
                          test_labels)
        with open(osp.join(args.work_dir, f'float_{model_key}.json'),
                  'w') as file:
            json.dump(dict(model=model_key, top1=float_top1), file)
        print(f'{model_key}: float top-1 {float_top1:.2f}', flush=True)
        images = synthetic_images(
            float_model, args,
            osp.join(args.work_dir, f'images_{model_key}.pth'))
        for setting in args.settings:
            entry = run_one(model_key, setting, args, test_images,
                            test_labels, float_model, images)
            tag = (f'{model_key}_{setting.replace("/", "")}_{args.preset}' +
                   ('_nocyclic' if args.no_cyclic else ''))
            with open(osp.join(args.work_dir, f'result_{tag}.json'),
                      'w') as file:
                json.dump(entry, file, indent=1)
            print(f'{model_key} {setting}: observer '
                  f'{entry["observer_top1"]:.2f} -> search '
                  f'{entry["search_top1"]:.2f}, ratio '
                  f'{entry["ratio_search"]:.2f}', flush=True)
            write_report(args)


if __name__ == '__main__':
    main()
