"""Top-1 of the shipped Fashion-MNIST classifiers on one split, float only.

The figures of docs/classifiers.md's table: each model of the benchmark's
``MODEL_SPECS`` is built from its config, loaded from its checkpoint and
scored on the whole split (or its first ``--num-images``), as the benchmark
scores FP.

Example::

    python tools/score_classifiers.py --split val
    python tools/score_classifiers.py --models timm_vit vit_deep --split test
"""
import argparse
import os.path as osp
import sys
import time

import torch

# Run from a checkout without `pip install -e .` as well.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Splits a classifier can be scored on (the benchmark's).
SPLITS = ('test', 'val')


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    from clamp_mm.benchmark import MODEL_SPECS
    classifiers = [key for key, spec in MODEL_SPECS.items()
                   if not spec.is_dense]
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', nargs='+', default=classifiers,
                        choices=classifiers)
    parser.add_argument('--split', default='val', choices=SPLITS,
                        help='val: the 5,000 held-out training images '
                        '55000..59999 (default); test: the 10k test images')
    parser.add_argument('--num-images', type=int, default=None,
                        help='first N images of the split (default: all)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (default 1)')
    args = parser.parse_args(argv)
    if args.num_images is not None and args.num_images < 1:
        parser.error(f'--num-images {args.num_images}: expected >= 1')
    return args


def main(argv=None) -> dict:
    """Score each model; print one line each and return ``{key: top1}``."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from clamp_mm.benchmark import MODEL_SPECS, build_task, load_float_model
    from clamp_mm.models import find_adapter
    scores = {}
    for key in args.models:
        started = time.time()
        model, origin = load_float_model(MODEL_SPECS[key])
        adapter = find_adapter(model)
        task = build_task(MODEL_SPECS[key], adapter, args.num_images,
                          eval_split=args.split)
        scores[key] = task.evaluate(model, adapter)['top1']
        print(f'{key}: top-1 {scores[key]:.2f} % on {task.num_test} '
              f'{args.split} images ({origin}; {time.time() - started:.0f} s)',
              flush=True)
    return scores


if __name__ == '__main__':
    main()
