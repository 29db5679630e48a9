"""Train a small dense model (Mask R-CNN or UperNet) on the composite sets.

Wraps mmengine's Runner like OpenMMLab's ``tools/train.py``, pins the CPU
thread count (shared machines slow down badly with more threads than free
cores), records wall and CPU time, exports a weights-only checkpoint and
scores that exported file with the config's own evaluator, so the recorded
figure is the one a user gets from the shipped weights.

The export goes to ``checkpoints/`` when it is under 5 MB. A model whose
float32 weights are larger is stored in float16 when that fits (every float
tensor is rounded once; loading casts back to float32, and the recorded
metrics are those of the rounded weights); otherwise the float32 file goes
to ``~/.cache/clamp_mm/checkpoints/``.

Example::

    python tools/make_composite_datasets.py
    python tools/train_dense.py configs/dense/mask-rcnn_swin-nano_fpn_composite-128.py
    python tools/train_dense.py configs/dense/upernet_swin-nano_composite-128.py
    # export and score an existing runner checkpoint without training:
    python tools/train_dense.py CONFIG --export-from work_dirs/NAME/iter_600.pth
"""
import argparse
import json
import os
import os.path as osp
import tempfile
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner, load_checkpoint

import clamp_mm  # noqa: F401  (torch compatibility patches, registries)
from clamp_mm.datasets.composite_build import (build_composite_datasets,
                                               point_config_at_composite)

#: Shipped checkpoints must stay below this size (bytes).
MAX_SHIPPED_BYTES = 5 * 1024 * 1024
#: The first this many validation scenes of the default composite build
#: (seed 0) form the fixed subset on which the checkpoint tests reproduce the
#: recorded score: the build regenerates only these.
SUBSET = dict(seed=0, num_val=32)
#: Where checkpoints too large to ship go.
CACHE_DIR = osp.expanduser('~/.cache/clamp_mm/checkpoints')


class RecordValMetricsHook(Hook):
    """Keep the metrics of the last validation run."""

    def __init__(self):
        self.metrics = {}

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = dict(metrics or {})


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config file under configs/dense/')
    parser.add_argument('--work-dir', help='logs and runner checkpoints; '
                        'defaults to work_dirs/<config name>')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads. Defaults to 1.')
    parser.add_argument('--export-dir', default='checkpoints',
                        help='where the exported checkpoint goes when it is '
                        'under 5 MB. Defaults to checkpoints/.')
    parser.add_argument('--export-from', help='skip training: export and '
                        'score this runner checkpoint instead')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config fields, key=value')
    return parser.parse_args()


def tensor_bytes(state_dict: dict) -> int:
    return sum(t.numel() * t.element_size() for t in state_dict.values())


def export_weights(model: torch.nn.Module, meta: dict, name: str,
                   export_dir: str) -> str:
    """Save ``state_dict`` and ``meta`` (see module doc); return the path."""
    state_dict = {
        key: value.detach().cpu().clone()
        for key, value in model.state_dict().items()
    }
    target_dir, storage = export_dir, 'float32'
    if tensor_bytes(state_dict) >= MAX_SHIPPED_BYTES:
        half = {
            key: value.half() if value.is_floating_point() else value
            for key, value in state_dict.items()
        }
        if tensor_bytes(half) < MAX_SHIPPED_BYTES:
            state_dict, storage = half, 'float16'
        else:
            target_dir = CACHE_DIR
    meta = dict(meta, weight_storage=storage)
    os.makedirs(target_dir, exist_ok=True)
    path = osp.join(target_dir, name + '.pth')
    torch.save(dict(meta=meta, state_dict=state_dict), path)
    return path


def train(cfg) -> tuple:
    """Train; return the trained model and the training record."""
    runner = Runner.from_cfg(cfg)
    recorder = RecordValMetricsHook()
    runner.register_hook(recorder, priority='LOWEST')
    start, start_cpu = time.time(), time.process_time()
    runner.train()
    model = runner.model.module if hasattr(runner.model,
                                           'module') else runner.model
    record = dict(
        # On a shared machine wall time depends on the neighbours; the CPU
        # time of this process is the figure that transfers.
        train_seconds=round(time.time() - start, 1),
        train_cpu_seconds=round(time.process_time() - start_cpu, 1),
        runner_metrics={key: float(value)
                        for key, value in recorder.metrics.items()})
    return model, record


def score_checkpoint(cfg, path: str) -> dict:
    """Score ``path`` with the config's val dataloader and evaluator.

    Returns:
        dict: ``metrics`` and ``eval_cpu_seconds``.
    """
    cfg = cfg.copy()
    cfg.load_from = path
    cfg.resume = False
    runner = Runner.from_cfg(cfg)
    start_cpu = time.process_time()
    metrics = runner.val()
    return dict(
        metrics={key: float(value)
                 for key, value in metrics.items()},
        eval_cpu_seconds=round(time.process_time() - start_cpu, 1))


def score_on_subset(cfg, path: str) -> dict:
    """Score ``path`` on a regenerated :data:`SUBSET` of the val scenes."""
    with tempfile.TemporaryDirectory() as data_dir:
        build_composite_datasets(data_dir, num_train=1, **SUBSET)
        cfg = point_config_at_composite(cfg.copy(), data_dir)
        cfg.work_dir = osp.join(data_dir, 'work')
        return score_checkpoint(cfg, path)['metrics']


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    name = osp.splitext(osp.basename(args.config))[0]
    cfg.work_dir = args.work_dir or osp.join('work_dirs', name)
    summary_path = osp.join(cfg.work_dir, 'summary.json')

    if args.export_from:
        model = Runner.from_cfg(cfg.copy()).model
        load_checkpoint(model, args.export_from, map_location='cpu',
                        strict=True)
        record = {}
        if osp.isfile(summary_path):  # keep the training record of the run
            with open(summary_path) as file:
                record = {
                    key: value
                    for key, value in json.load(file).items()
                    if key.startswith(('train_', 'runner_'))
                }
    else:
        model, record = train(cfg)

    meta = dict(
        config=osp.basename(args.config),
        torch_threads=args.threads,
        seed=cfg.get('randomness', {}).get('seed'),
        num_parameters=sum(p.numel() for p in model.parameters()),
        **record)
    path = export_weights(model, meta, name, args.export_dir)
    meta.update(score_checkpoint(cfg, path), checkpoint=path)
    meta['subset'] = SUBSET
    meta['subset_metrics'] = score_on_subset(cfg, path)
    # Store the exported weights' own scores inside the file too.
    checkpoint = torch.load(path, map_location='cpu')
    checkpoint['meta'] = dict(
        checkpoint['meta'],
        metrics=meta['metrics'],
        subset=SUBSET,
        subset_metrics=meta['subset_metrics'])
    meta['weight_storage'] = checkpoint['meta']['weight_storage']
    torch.save(checkpoint, path)
    os.makedirs(cfg.work_dir, exist_ok=True)
    with open(summary_path, 'w') as file:
        json.dump(meta, file, indent=2)
    print(json.dumps(meta, indent=2))


if __name__ == '__main__':
    main()
