"""Train a small dense model (Mask R-CNN or UperNet) on the composite sets.

Wraps mmengine's Runner like OpenMMLab's ``tools/train.py``, pins the CPU
thread count (shared machines slow down badly with more threads than free
cores), records wall time and final validation metrics, and exports a
weights-only checkpoint: into ``checkpoints/`` when it is under the size
limit, otherwise into ``~/.cache/clamp_mm/checkpoints/``.

Example::

    python tools/make_composite_datasets.py
    python tools/train_dense.py configs/dense/mask-rcnn_swin-nano_fpn_composite-128.py
    python tools/train_dense.py configs/dense/upernet_swin-nano_composite-128.py
"""
import argparse
import json
import os
import os.path as osp
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner

import clamp_mm  # noqa: F401  (torch compatibility patches, registries)

#: Shipped checkpoints must stay below this size (bytes).
MAX_SHIPPED_BYTES = 5 * 1024 * 1024
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
                        help='where the weights-only checkpoint goes when it '
                        'is under 5 MB')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config fields, key=value')
    return parser.parse_args()


def export_weights(model: torch.nn.Module, meta: dict, name: str,
                   export_dir: str) -> str:
    """Save ``state_dict`` and ``meta``; return the path written."""
    state_dict = {
        key: value.detach().cpu()
        for key, value in model.state_dict().items()
    }
    num_bytes = sum(t.numel() * t.element_size() for t in state_dict.values())
    target_dir = export_dir if num_bytes < MAX_SHIPPED_BYTES else CACHE_DIR
    os.makedirs(target_dir, exist_ok=True)
    path = osp.join(target_dir, name + '.pth')
    torch.save(dict(meta=meta, state_dict=state_dict), path)
    return path


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    name = osp.splitext(osp.basename(args.config))[0]
    cfg.work_dir = args.work_dir or osp.join('work_dirs', name)

    runner = Runner.from_cfg(cfg)
    recorder = RecordValMetricsHook()
    runner.register_hook(recorder, priority='LOWEST')
    start, start_cpu = time.time(), time.process_time()
    runner.train()
    train_seconds = time.time() - start
    # On a shared machine wall time depends on the neighbours; the CPU time
    # of this process is the figure that transfers.
    train_cpu_seconds = time.process_time() - start_cpu

    model = runner.model.module if hasattr(runner.model,
                                           'module') else runner.model
    meta = dict(
        config=osp.basename(args.config),
        metrics={key: float(value)
                 for key, value in recorder.metrics.items()},
        train_seconds=round(train_seconds, 1),
        train_cpu_seconds=round(train_cpu_seconds, 1),
        torch_threads=args.threads,
        seed=cfg.get('randomness', {}).get('seed'),
        num_parameters=sum(p.numel() for p in model.parameters()))
    path = export_weights(model, meta, name, args.export_dir)
    meta['checkpoint'] = path
    with open(osp.join(cfg.work_dir, 'summary.json'), 'w') as file:
        json.dump(meta, file, indent=2)
    print(json.dumps(meta, indent=2))


if __name__ == '__main__':
    main()
