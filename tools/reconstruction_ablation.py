"""Observers only vs + block reconstruction, per calibration source and
setting, on a Fashion-MNIST classifier; the table of
docs/block_reconstruction.md.

Every cell starts from a fresh copy of the float model: observers
calibrated on the source's 32 images with the default quantizer
(``QuantRecipe`` at the setting's bits), top-1 on the evaluation split, then
:class:`clamp_mm.BlockReconstructionCalibrator` on the same images (timed)
and top-1 again. Results are appended as JSON lines to ``--out``.

Example::

    python tools/reconstruction_ablation.py --model vit --sources real clamp \\
        --settings W4/A4 --generator-iterations 100 --iterations 500 \\
        --out work_dirs/recon/vit.jsonl
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Calibration sources this tool knows.
SOURCES = ('real', 'clamp', 'psaq_v1', 'gaussian')


def parse_args(argv=None) -> argparse.Namespace:
    from clamp_mm.benchmark import MODEL_SPECS
    from clamp_mm.benchmark.methods import SETTINGS
    classifiers = [k for k, s in MODEL_SPECS.items() if not s.is_dense]
    parser = argparse.ArgumentParser(prog=osp.basename(__file__),
                                     description=__doc__.split('\n')[0])
    parser.add_argument('--model', default='vit', choices=classifiers)
    parser.add_argument('--sources', nargs='+', default=['real', 'clamp'],
                        choices=SOURCES)
    parser.add_argument('--settings', nargs='+', default=['W4/A4'],
                        choices=list(SETTINGS))
    add_cell_arguments(parser)
    parser.add_argument('--work-dir', default=None,
                        help='give each cell a work dir (state, losses, '
                        'loss plot) under this folder')
    parser.add_argument('--out', required=True, help='JSON-lines file')
    return parse_cell_arguments(parser, argv)


def parse_cell_arguments(parser: argparse.ArgumentParser,
                         argv=None) -> argparse.Namespace:
    """Parse ``argv``, with the JSON options of :func:`add_cell_arguments`
    turned into checked dicts (or one line and exit 2)."""
    args = parser.parse_args(argv)
    args.reconstruction = json_dict(parser, '--reconstruction',
                                    args.reconstruction)
    args.quantizer = quantizer_fields(parser, args.quantizer)
    return args


def add_cell_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every cell of the reconstruction tools shares: seed,
    calibration images, evaluation split, reconstruction and quantizer
    fields (parse with :func:`parse_cell_arguments`)."""
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-images', type=int, default=32)
    parser.add_argument('--generator-iterations', type=int, default=None,
                        help='stage-1 budget of the synthetic sources '
                        '(default: the generators\' own, 500)')
    parser.add_argument('--eval-split', default='val', choices=['val',
                                                                'test'])
    parser.add_argument('--num-eval', type=int, default=None,
                        help='first images of the split (default all)')
    parser.add_argument('--reconstruction', default='{}',
                        help='BlockReconstructionCalibrator fields as a '
                        'JSON dict, e.g. \'{"iterations": 500}\'')
    parser.add_argument('--quantizer', default='{}',
                        help='QuantRecipe fields over the default quantizer '
                        'as a JSON dict (the setting sets the bits), e.g. '
                        '\'{"preset": "clamp_data_free_linear"}\' or '
                        '\'{"quantize_block_output": false}\'')
    parser.add_argument('--cache-dir', default='work_dirs/recon_images',
                        help='where the calibration images are cached')


def quantizer_fields(parser: argparse.ArgumentParser, text: str) -> dict:
    """``--quantizer`` parsed and checked against :class:`QuantRecipe`,
    or one line and exit 2."""
    from clamp_mm.benchmark.methods import check_quantizer_fields
    try:
        return check_quantizer_fields(
            json_dict(parser, '--quantizer', text), '--settings')
    except ValueError as error:
        parser.exit(2, f'{parser.prog}: --quantizer: {error}\n')


def json_dict(parser: argparse.ArgumentParser, option: str,
              text: str) -> dict:
    """``text`` parsed as a JSON object, or one line and exit 2."""
    try:
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError('not a JSON object')
    except ValueError as error:
        parser.exit(2, f'{parser.prog}: {option} {text!r} is not a JSON '
                    f'dict ({error})\n')
    return value


def make_images(source, spec, adapter, task, args):
    """The source's calibration images (cached per model, seed, budget)."""
    from clamp_mm.benchmark.methods import BenchmarkConfig
    from clamp_mm.pipeline import build_in_scope
    from clamp_mm.registry import GENERATORS
    budget = 'default' if args.generator_iterations is None else \
        args.generator_iterations
    path = osp.join(args.cache_dir, f'{spec.key}_{source}_seed{args.seed}_'
                    f'n{args.num_images}_it{budget}_{args.eval_split}.pth')
    if osp.isfile(path):
        return torch.load(path, weights_only=True), 0.0
    start = time.perf_counter()
    if source == 'real':
        images, _ = task.real_images(adapter, args.num_images, args.seed)
    else:
        config = BenchmarkConfig(num_images=args.num_images,
                                 generator_iterations=args.generator_iterations,
                                 grey_generation=True)
        generator = build_in_scope(GENERATORS, config.generator_cfg(
            source, args.seed, spec.grey_inputs))
        images = generator.generate(adapter, args.num_images)
    seconds = time.perf_counter() - start
    os.makedirs(args.cache_dir, exist_ok=True)
    torch.save(images.detach(), path)
    return images.detach(), seconds


def load_classifier(args):
    """The model's spec, float model, adapter, task and FP top-1."""
    from clamp_mm.benchmark import MODEL_SPECS
    from clamp_mm.benchmark.tasks import ClassificationTask, load_float_model
    from clamp_mm.models import find_adapter
    spec = MODEL_SPECS[args.model]
    fp_model, _ = load_float_model(spec)
    adapter = find_adapter(fp_model)
    task = ClassificationTask(spec, adapter, args.num_eval,
                              eval_split=args.eval_split)
    return spec, fp_model, adapter, task, task.evaluate(fp_model,
                                                        adapter)['top1']


def observer_model(fp_model, setting, images, seed, quantizer=None):
    """A fresh copy of ``fp_model`` with the default quantizer (with the
    :class:`QuantRecipe` fields ``quantizer`` over it) at the setting's
    bits, its observers calibrated on ``images``."""
    from clamp_mm.benchmark.methods import SETTINGS, recipe_at_bits
    from clamp_mm.models import calibrate_observers, find_adapter
    torch.manual_seed(seed)
    model = copy.deepcopy(fp_model)
    calibrate_observers(model, recipe_at_bits(quantizer, *SETTINGS[setting]),
                        images)
    return model, find_adapter(model)


def main(argv=None) -> None:
    from clamp_mm.benchmark.methods import SETTINGS, recipe_at_bits
    args = parse_args(argv)
    torch.set_num_threads(int(os.environ.get('CLAMP_NUM_THREADS', '1')))
    from clamp_mm.reconstruction import BlockReconstructionCalibrator
    try:
        fields = dict(dict(progress_bar=False, plots=False, seed=args.seed),
                      **args.reconstruction)
        BlockReconstructionCalibrator(**fields)
    except (TypeError, ValueError) as error:
        print(f'reconstruction_ablation.py: --reconstruction: {error}',
              file=sys.stderr)
        sys.exit(2)
    spec, fp_model, adapter, task, fp_top1 = load_classifier(args)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    for source in args.sources:
        images, generate_seconds = make_images(source, spec, adapter, task,
                                               args)
        for setting in args.settings:
            model, quantized_adapter = observer_model(fp_model, setting,
                                                      images, args.seed,
                                                      args.quantizer)
            observers = task.evaluate(model, quantized_adapter)['top1']
            start = time.perf_counter()
            cpu_start = time.process_time()
            cell_fields = dict(fields)
            if args.work_dir is not None:
                cell_fields.update(plots=True, resume=False, work_dir=osp.join(
                    args.work_dir, f'{spec.key}_{source}_'
                    f'{setting.replace("/", "")}'))
            result = BlockReconstructionCalibrator(**cell_fields).calibrate(
                model, images)
            seconds = time.perf_counter() - start
            cpu_seconds = time.process_time() - cpu_start
            reconstructed = task.evaluate(model, quantized_adapter)['top1']
            record = dict(
                model=spec.key, source=source, setting=setting,
                seed=args.seed, split=args.eval_split,
                num_eval=task.num_test, generator_iterations=(
                    args.generator_iterations), quantizer=args.quantizer,
                recipe=recipe_at_bits(args.quantizer,
                                      *SETTINGS[setting]).to_dict(),
                fp=fp_top1,
                observers=observers, reconstruction=reconstructed,
                reconstruction_seconds=seconds,
                reconstruction_cpu_seconds=cpu_seconds,
                generate_seconds=generate_seconds,
                threads=torch.get_num_threads(),
                config=result and BlockReconstructionCalibrator(
                    **fields).config.fingerprint(),
                block_losses=result.block_losses)
            with open(args.out, 'a') as file:
                file.write(json.dumps(record) + '\n')
            print(f'{spec.key} {source} {setting}: FP {fp_top1:.2f} '
                  f'observers {observers:.2f} + reconstruction '
                  f'{reconstructed:.2f} ({seconds:.0f} s wall, '
                  f'{cpu_seconds:.0f} s CPU)', flush=True)


if __name__ == '__main__':
    main()
