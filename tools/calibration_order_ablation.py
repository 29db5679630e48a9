"""Which order of block reconstruction and evolutionary search is best, on
a Fashion-MNIST classifier (issue 18, item 2; docs/block_reconstruction.md).

Every branch starts from a fresh copy of the float model calibrated by the
observers of the default quantizer on the same calibration images (those of
``tools/reconstruction_ablation.py``, cached in the same place), then runs
its calibrators one after the other, as ``clamp_mm.SequentialCalibrator``
does, scoring top-1 after each step:

- branch ``recon``: :class:`clamp_mm.BlockReconstructionCalibrator`, then
  :class:`clamp_mm.EvolutionaryCalibrator` (records of the orders
  ``reconstruction`` and ``reconstruction+search``);
- branch ``search``: the search, then the reconstruction (``search`` and
  ``search+reconstruction``).

The search runs without cyclic adaptation (the images stay those of the
reconstruction). One JSON line per order is appended to ``--out``.

Example::

    python tools/calibration_order_ablation.py --model vit --source clamp \\
        --settings W4/A4 --num-eval 2000 --out work_dirs/order/vit.jsonl
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

#: Branches: their calibrator sequence (the order of the run).
BRANCHES = {'recon': ('reconstruction', 'search'),
            'search': ('search', 'reconstruction')}


def parse_args(argv=None) -> argparse.Namespace:
    from clamp_mm.benchmark import MODEL_SPECS
    from clamp_mm.benchmark.methods import SETTINGS
    from reconstruction_ablation import (SOURCES, add_cell_arguments,
                                         json_dict, parse_cell_arguments)
    classifiers = [k for k, s in MODEL_SPECS.items() if not s.is_dense]
    parser = argparse.ArgumentParser(prog=osp.basename(__file__),
                                     description=__doc__.split('\n')[0])
    parser.add_argument('--model', default='vit', choices=classifiers)
    parser.add_argument('--source', default='clamp', choices=SOURCES)
    parser.add_argument('--settings', nargs='+', default=['W4/A4'],
                        choices=list(SETTINGS))
    parser.add_argument('--branches', nargs='+', default=list(BRANCHES),
                        choices=list(BRANCHES))
    add_cell_arguments(parser)
    parser.add_argument('--search', default='{}',
                        help='EvolutionaryCalibrator fields (JSON), e.g. '
                        '\'{"passes": 2}\'')
    parser.add_argument('--out', required=True, help='JSON-lines file')
    args = parse_cell_arguments(parser, argv)
    args.search = json_dict(parser, '--search', args.search)
    return args


def build_calibrators(args):
    """The two calibrators, or one line and exit 2 on a bad field."""
    from clamp_mm.reconstruction import BlockReconstructionCalibrator
    from clamp_mm.search import EvolutionaryCalibrator
    quiet = dict(progress_bar=False, plots=False, seed=args.seed,
                 work_dir=None, resume=False)
    calibrators = {}
    for name, option, cls, fields in (
            ('reconstruction', '--reconstruction',
             BlockReconstructionCalibrator, args.reconstruction),
            ('search', '--search', EvolutionaryCalibrator,
             dict(dict(cyclic_adaptation=False), **args.search))):
        try:
            calibrators[name] = cls(**dict(quiet, **fields))
        except (TypeError, ValueError) as error:
            print(f'calibration_order_ablation.py: {option}: {error}',
                  file=sys.stderr)
            sys.exit(2)
    return calibrators


def main(argv=None) -> None:
    args = parse_args(argv)
    calibrators = build_calibrators(args)
    torch.set_num_threads(int(os.environ.get('CLAMP_NUM_THREADS', '1')))
    from reconstruction_ablation import (load_classifier, make_images,
                                         observer_model)
    spec, fp_model, adapter, task, fp_top1 = load_classifier(args)
    images, _ = make_images(args.source, spec, adapter, task, args)
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    for setting in args.settings:
        for branch in args.branches:
            model, quantized_adapter = observer_model(fp_model, setting,
                                                      images, args.seed,
                                                      args.quantizer)
            observers = task.evaluate(model, quantized_adapter)['top1']
            order, top1, seconds = [], [], []
            for step in BRANCHES[branch]:
                start = time.perf_counter()
                calibrators[step].calibrate(model, images)
                seconds.append(time.perf_counter() - start)
                order.append(step)
                top1.append(task.evaluate(model, quantized_adapter)['top1'])
                record = dict(
                    model=spec.key, source=args.source, setting=setting,
                    seed=args.seed, split=args.eval_split,
                    num_eval=task.num_test, order='+'.join(order), fp=fp_top1,
                    observers=observers, top1_after_steps=list(top1),
                    step_seconds=list(seconds),
                    threads=torch.get_num_threads(),
                    quantizer=args.quantizer,
                    reconstruction_fields=args.reconstruction,
                    search_fields=args.search)
                with open(args.out, 'a') as file:
                    file.write(json.dumps(record) + '\n')
                print(f'{spec.key} {args.source} {setting} {record["order"]}:'
                      f' FP {fp_top1:.2f} observers {observers:.2f} -> '
                      + ' -> '.join(f'{t:.2f}' for t in top1)
                      + f' ({sum(seconds):.0f} s)', flush=True)


if __name__ == '__main__':
    main()
