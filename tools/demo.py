"""The README's main command: CLAMP W4/A8 on the Fashion-MNIST ViT, on CPU.

    python tools/demo.py

runs ``tools/quantize.py configs/fmnist_quant/vit_fmnist_clamp_w4a8.py
checkpoints/fmnist_vit.pth --fp``: the float ViT trained on Fashion-MNIST
is quantized to 4-bit weights and 8-bit activations from synthetic images
alone (CLAMP-ViT generator and evolutionary search, method.md defaults),
then both models are evaluated on the 10k test images and their top-1
accuracies printed side by side. Every option of quantize.py passes
through (``--cfg-options``, ``--load-quantized`` ...).

By default the search makes 2 passes over the blocks instead of the
method's 10 (DEMO_OPTIONS), so the demo ends in minutes on a small CPU;
``--full`` runs the config's method defaults, ``--quick`` shrinks the
generator and the search to a smoke test, ``--random-init`` runs the
pipeline on an untrained model when the trained checkpoint is missing.
"""
import argparse
import os
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

DEFAULT_CONFIG = osp.join('configs', 'fmnist_quant',
                          'vit_fmnist_clamp_w4a8.py')
DEFAULT_CHECKPOINT = osp.join('checkpoints', 'fmnist_vit.pth')
#: The demo's budget: everything per method.md but 2 search passes (of 10).
DEMO_OPTIONS = ['test_cfg.calibrator.passes=2']
#: What --quick changes: a few generator steps and a one-pass search.
QUICK_OPTIONS = [
    'test_cfg.generator.iterations=20',
    'test_cfg.generator.warmup_iterations=5',
    'test_cfg.calibrator.passes=1',
    'test_cfg.calibrator.cycles=2',
    'test_cfg.calibrator.population_size=4',
    'test_cfg.calibrator.tournament_size=3',
    'test_cfg.calibrator.refresh_iterations=2',
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='CLAMP W4/A8 on the Fashion-MNIST ViT: FP and quantized '
        'top-1 side by side (any other option goes to tools/quantize.py)')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help=f'quantization config (default {DEFAULT_CONFIG})')
    parser.add_argument(
        '--checkpoint', default=DEFAULT_CHECKPOINT,
        help=f'float checkpoint (default {DEFAULT_CHECKPOINT})')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'demo'),
                        help='where results go (default work_dirs/demo)')
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument('--quick', action='store_true',
                        help='tiny generator and search: a smoke test')
    budget.add_argument('--full', action='store_true',
                        help='the method\'s full search (10 passes; tens of '
                        'minutes on 2 CPU cores)')
    parser.add_argument(
        '--random-init', action='store_true',
        help='quantize an untrained model when the checkpoint is missing '
        '(the numbers then mean nothing; the pipeline runs)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (default 1: best on a busy '
                        'small machine)')
    return parser.parse_known_args(argv)


def random_init_checkpoint(config: str, work_dir: str) -> str:
    """Save the config's model, freshly initialised, as a checkpoint."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import MODELS, DefaultScope
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
    model.init_weights()
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, 'random_init.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path


def main(argv=None):
    args, passthrough = parse_args(argv)
    os.environ.setdefault('CLAMP_NUM_THREADS', str(args.threads))
    checkpoint = args.checkpoint
    if not osp.isfile(checkpoint) and '--load-quantized' not in passthrough:
        if not args.random_init:
            print(f'demo.py: error: {checkpoint} does not exist; train it '
                  'with python tools/train_classifier.py '
                  'configs/fashion_mnist/vit_fmnist.py, or pass '
                  '--random-init to run the pipeline on an untrained model',
                  file=sys.stderr)
            sys.exit(2)
        checkpoint = random_init_checkpoint(args.config, args.work_dir)
        print(f'demo.py: {args.checkpoint} missing: quantizing a randomly '
              'initialised model (accuracies are meaningless)')
    options = QUICK_OPTIONS if args.quick else (
        [] if args.full else DEMO_OPTIONS)
    # quantize.py's own --cfg-options come after ours, so they win.
    if '--cfg-options' in passthrough:
        index = passthrough.index('--cfg-options')
        options = options + passthrough[index + 1:]
        passthrough = passthrough[:index]
    quantize_argv = [args.config]
    if '--load-quantized' not in passthrough:
        quantize_argv.append(checkpoint)
    quantize_argv += ['--work-dir', args.work_dir, '--fp'] + passthrough
    if options:
        quantize_argv += ['--cfg-options'] + options

    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'quantize_tool', osp.join(REPO, 'tools', 'quantize.py'))
    quantize_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quantize_tool)
    start = time.time()
    metrics = quantize_tool.main(quantize_argv)
    print(f'demo.py: done in {time.time() - start:.0f} s '
          f'({os.environ["CLAMP_NUM_THREADS"]} thread(s))')
    return metrics


if __name__ == '__main__':
    main()
