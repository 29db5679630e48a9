"""Time PSAQ-ViT v1's generation step on a dense model, per ``max_pairs``.

One generation of ``--steps`` Adam steps of :class:`PSAQv1Generator` on the
backbone of a benchmark model (the small Mask R-CNN by default) at its
128 px input (``--resolution``), batch 32, once per ``--max-pairs`` value (``all``: every token
pair, the exact density). Prints the mean time of the steps after the first
(the first includes allocator warm-up) and the peak resident memory of the
process, one line per value; each value runs in its own subprocess.

    nice -n 10 python tools/time_psaq_dense_step.py --max-pairs all 32768
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)


def parse_max_pairs(text: str):
    if text == 'all':
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f'--max-pairs {text!r} is invalid, expected an int >= 1 or "all"')
    return value


def measure(model_key: str, max_pairs, steps: int, batch_size: int,
            resolution: int) -> dict:
    """One generation in this process; returns its timings."""
    import torch

    from clamp_mm.benchmark.tasks import MODEL_SPECS, load_float_model
    from clamp_mm.models.base import find_adapter
    from clamp_mm.synth import PSAQv1Generator
    torch.set_num_threads(int(os.environ.get('CLAMP_NUM_THREADS', '1')))
    model, origin = load_float_model(MODEL_SPECS[model_key])
    adapter = find_adapter(model)
    generator = PSAQv1Generator(iterations=steps, num_rounds=1,
                                batch_size=batch_size, max_pairs=max_pairs,
                                progress=False, log_interval=0)
    started = time.perf_counter()
    generator.generate(adapter, batch_size, resolution=resolution)
    total = time.perf_counter() - started
    seconds = [entry['seconds'] for entry in generator.loss_log]
    later = seconds[1:] or seconds
    return dict(model=origin, max_pairs=max_pairs, batch_size=batch_size,
                resolution=resolution,
                steps=len(seconds), first_step_s=seconds[0],
                mean_later_step_s=sum(later) / len(later), total_s=total,
                peak_rss_mib=resource.getrusage(
                    resource.RUSAGE_SELF).ru_maxrss / 1024,
                entropy_term=[entry['similarity_entropy']
                              for entry in generator.loss_log])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='mask_rcnn',
                        help='benchmark model key. Defaults to mask_rcnn')
    parser.add_argument('--max-pairs', nargs='+', type=parse_max_pairs,
                        default=[None, 32768],
                        help='values to time ("all" = every pair)')
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--resolution', type=int, default=128,
                        help='side of the images. Defaults to 128 (the '
                        'model\'s training size; the adapter alone would '
                        'take the config\'s test scale)')
    parser.add_argument('--worker', action='store_true',
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1:
        parser.error(f'--steps {args.steps} and --batch-size '
                     f'{args.batch_size} must be >= 1')
    if args.worker:
        print(json.dumps(measure(args.model, args.max_pairs[0], args.steps,
                                 args.batch_size, args.resolution)))
        return
    for max_pairs in args.max_pairs:
        command = [
            sys.executable, osp.abspath(__file__), '--worker', '--model',
            args.model, '--steps', str(args.steps), '--batch-size',
            str(args.batch_size), '--resolution', str(args.resolution),
            '--max-pairs',
            'all' if max_pairs is None else str(max_pairs)
        ]
        done = subprocess.run(command, capture_output=True, text=True,
                              cwd=REPO, check=True)
        print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == '__main__':
    main()
