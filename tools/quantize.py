"""CLAMP-quantize a model and evaluate it with the task's own metrics.

Mirrors OpenMMLab's ``tools/test.py``::

    python tools/quantize.py configs/swin_t_mrcnn_w4a8.py CHECKPOINT --fp
    python tools/quantize.py CONFIG --load-quantized WORK_DIR/quantized_model.pth
    bash tools/dist_quantize.sh CONFIG CHECKPOINT 8 --fp

The config's ``test_cfg`` is a ``clamp_mm.QuantTestLoop`` (inherit one of
``configs/_base_/clamp_*.py``): the run synthesizes calibration data,
calibrates and searches the quantization parameters, saves the quantized
model and the images to the work dir, and evaluates; ``--fp`` evaluates the
float model too and prints both side by side. Every run ends by writing
its report, ``WORK_DIR/report.md`` (``--no-report`` skips it;
``tools/analyze_quant.py WORK_DIR`` redraws it). Bad input ends the run with
one line on stderr and exit status 2, before anything is written.
"""
import argparse
import os
import os.path as osp
import sys

# Run from a checkout without installing: make clamp_mm importable.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

EXIT_BAD_INPUT = 2


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='CLAMP-quantize a model (data-free) and evaluate it')
    parser.add_argument('config', help='quantization config file')
    parser.add_argument(
        'checkpoint', nargs='?', default=None,
        help='float checkpoint (file or URL); defaults to the config\'s '
        'load_from')
    parser.add_argument(
        '--work-dir', help='where the quantized model, synthetic images, '
        'search state, logs and results go')
    parser.add_argument(
        '--out', help='dump the quantized model\'s predictions to this '
        'pickle file (mmengine DumpResults)')
    parser.add_argument(
        '--fp', action='store_true',
        help='also evaluate the float model, in the same run, and show '
        'both side by side')
    parser.add_argument(
        '--load-quantized', metavar='PATH',
        help='evaluate a quantized model saved by an earlier run, without '
        'synthesizing or calibrating')
    parser.add_argument(
        '--restart', action='store_true',
        help='discard the search state an earlier run left in the work dir '
        '(a run with other settings stops with an error instead of mixing '
        'the two) and start afresh')
    parser.add_argument(
        '--no-report', action='store_true',
        help='do not write the run report (WORK_DIR/report.md: metrics, '
        'cost, stage times, figures, per-layer sensitivity)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=_DictAction, default={},
        help='override config settings, key=value pairs (mmengine syntax), '
        'e.g. test_cfg.num_images=64 test_cfg.recipe.weight_bits=8')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    # dist_quantize.sh passes '' when only --load-quantized is used.
    args.checkpoint = args.checkpoint or None
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


class _DictAction(argparse.Action):
    """mmengine's DictAction, imported lazily so --help stays fast."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction
        DictAction(self.option_strings, self.dest)(parser, namespace, values,
                                                   option_string)


def fail(message: str) -> None:
    """Report bad input in one line and exit with status 2."""
    print(f'quantize.py: error: {message}', file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def load_config(args: argparse.Namespace):
    """The merged config, or a one-line failure."""
    from mmengine.config import Config
    if not osp.isfile(args.config):
        fail(f'config file {args.config} does not exist')
    try:
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
    except Exception as error:  # syntax errors, missing bases, bad keys
        fail(f'cannot load config {args.config}: '
             f'{" ".join(str(error).split())}')
    return cfg


def configure(cfg, args: argparse.Namespace):
    """Apply the command line to the config, as tools/test.py does."""
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.checkpoint is not None:
        cfg.load_from = args.checkpoint
    if args.load_quantized is not None:
        cfg.test_cfg.load_quantized = args.load_quantized
        # The quantized file holds the float weights too.
        cfg.load_from = None
    if args.fp:
        cfg.test_cfg.evaluate_fp = True
    if not args.no_report:
        add_report_hook(cfg)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            fail(f'--out must be a .pkl or .pickle file, got {args.out}')
        evaluator = cfg.test_evaluator
        evaluators = list(evaluator) if isinstance(evaluator,
                                                   (list, tuple)) else [
                                                       evaluator]
        evaluators.append(dict(type='DumpResults', out_file_path=args.out))
        cfg.test_evaluator = evaluators
    return cfg


def add_report_hook(cfg) -> None:
    """Append ``clamp_mm.RunReportHook`` to the config's custom hooks,
    unless the config already has one (its settings then win)."""
    hooks = list(cfg.get('custom_hooks', None) or [])
    if not any(str(hook.get('type', '')).endswith('RunReportHook')
               for hook in hooks):
        hooks.append(dict(type='clamp_mm.RunReportHook'))
    cfg.custom_hooks = hooks


def init_cpu_process_group(cfg) -> None:
    """Start a gloo process group when torchrun runs us without CUDA.

    mmengine's pytorch launcher always calls ``torch.cuda.set_device``;
    the Runner skips its own initialisation when a group exists, so CPU
    runs (tests, CPU-only clusters) work through this path. The model
    wrapper then gets ``device_ids=None``, which CPU modules need.
    """
    import torch
    import torch.distributed as torch_dist
    if torch.cuda.is_available() or torch_dist.is_initialized():
        return
    backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend')
    if backend not in (None, 'gloo'):
        print(f'quantize.py: no CUDA device: using the gloo backend instead '
              f'of {backend!r}', file=sys.stderr)
    torch_dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg', None) or
                   dict(type='MMDistributedDataParallel'))
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


def discard_earlier_run(cfg) -> None:
    """--restart: remove the search state and the recorded fingerprint
    (the synthetic images are reused only when they answer this run's
    request, and every result file is rewritten)."""
    from clamp_mm.engine.run_state import (discard_run_state,
                                           fingerprint_from_cfg)
    _, state_file = fingerprint_from_cfg(cfg, cfg.work_dir)
    for path in discard_run_state(cfg.work_dir, state_file or ''):
        print(f'quantize.py: --restart: removed {path}', file=sys.stderr)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch
    import clamp_mm  # noqa: F401  torch compatibility patches
    from clamp_mm.engine.checkpoint_check import CheckpointMismatchError
    from clamp_mm.engine.quantized_checkpoint import QuantizedCheckpointError
    from clamp_mm.engine.run_state import RunStateMismatchError
    from clamp_mm.fileio import DiskFullError
    from clamp_mm.search.checkpointing import SearchStateError
    from clamp_mm.engine.preflight import QuantizeInputError, preflight
    cfg = configure(load_config(args), args)
    # Busy shared CPUs run faster with few threads; opt in per run.
    if os.environ.get('CLAMP_NUM_THREADS'):
        torch.set_num_threads(int(os.environ['CLAMP_NUM_THREADS']))
    try:
        preflight(cfg, cfg.get('load_from', None), cfg.work_dir,
                  cfg.test_cfg.get('load_quantized', None),
                  restart=args.restart)
    except QuantizeInputError as error:
        fail(str(error))
    if args.restart:
        discard_earlier_run(cfg)

    if args.launcher == 'pytorch':
        init_cpu_process_group(cfg)
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    try:
        metrics = runner.test()
    except (CheckpointMismatchError, FileNotFoundError, DiskFullError,
            QuantizedCheckpointError, RunStateMismatchError,
            SearchStateError) as error:
        fail(' '.join(str(error).split()))
    print_results(runner)
    return metrics


def print_results(runner) -> None:
    """Print the FP-beside-quantized table on rank 0 when the log (at the
    config's log level) did not show it already."""
    import logging
    from mmengine import dist
    from clamp_mm.engine import side_by_side_table
    if not dist.is_main_process():
        return
    loop = runner.test_loop
    results = getattr(loop, 'results', None) or {}
    if results.get('quantized') is None:
        return
    console_levels = [
        handler.level for handler in runner.logger.handlers
        if isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
    ]
    if not any(level <= logging.INFO for level in console_levels):
        print(side_by_side_table(results['quantized'], results.get('fp'),
                                 loop.quantized_label))
    print(f'work dir: {runner.work_dir}')


if __name__ == '__main__':
    main()
