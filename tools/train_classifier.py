"""Train one Fashion-MNIST classifier of configs/fashion_mnist and ship it.

A thin wrapper around mmengine's Runner (what mmpretrain's tools/train.py
does) that also

- fixes the number of torch threads (timings on a shared CPU mean nothing
  without it),
- measures the training wall time and the final top-1 on the 10k test images
  (and on the held-out val split when the config validates on it),
- writes a slim checkpoint: the model's ``state_dict`` and a ``meta`` of plain
  Python values (config text, classes, top-1, time, threads, command), with no
  optimizer state, loadable by ``torch.load(..., weights_only=True)``.

Example:
    python tools/train_classifier.py configs/fashion_mnist/vit_fmnist.py \
        --out checkpoints/fmnist_vit.pth
"""
import argparse
import os
import os.path as osp
import shlex
import sys
import time

import mmengine
import mmpretrain
import torch
from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.runner import Runner

# Run from a checkout without `pip install -e .` as well.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import clamp_mm  # noqa: E402,F401  (compat patches, registries)
import clamp_mm.datasets  # noqa: E402,F401  (clamp_mm.FashionMNIST)


def parse_args():
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='Train a Fashion-MNIST classifier and write a slim '
        'checkpoint with its measured top-1 and training time.')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--out',
        help='slim checkpoint to write; defaults to '
        'checkpoints/fmnist_<family>.pth with <family> taken from a config '
        'named <family>_fmnist.py')
    parser.add_argument(
        '--work-dir',
        help='folder of logs and full checkpoints; defaults to '
        'work_dirs/<config name>')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch intra-op threads; 1 is fastest on a busy 2-core machine '
        '(default: 1)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config fields, key=value as in mmpretrain tools/train.py')
    return parser.parse_args()


class RecordValMetrics(Hook):
    """Keep the metrics of the last validation for the checkpoint's meta."""

    priority = 'LOWEST'

    def __init__(self):
        self.metrics = {}

    def after_val_epoch(self, runner, metrics=None):
        """Store a copy of the validation metrics."""
        self.metrics = dict(metrics or {})


def vit_to_deit_state_dict(vit_state_dict: dict) -> dict:
    """Turn a ViT classifier's weights into a DeiT-distilled warm start.

    Every ViT weight is kept. The position embedding gains one row for the
    distillation token, placed right after the class token (where
    DistilledVisionTransformer puts it) and copied from the class token's row.
    The distillation token itself and the distillation head are left out, so
    they keep their fresh initialisation and the two tokens start different.

    Args:
        vit_state_dict (dict): ``state_dict`` of an ImageClassifier with a
            VisionTransformer backbone (class token only).

    Returns:
        dict: weights for the same classifier with a
        DistilledVisionTransformer backbone and a DeiTClsHead.
    """
    state_dict = dict(vit_state_dict)
    pos_embed = state_dict['backbone.pos_embed']
    state_dict['backbone.pos_embed'] = torch.cat(
        [pos_embed[:, :1], pos_embed[:, :1], pos_embed[:, 1:]], dim=1)
    return state_dict


def score_finished_model(runner: Runner, val_split: str,
                         val_top1: float) -> dict:
    """The top-1 figures of the finished model for the checkpoint's meta.

    A config that validates on the test split (the first three classifiers)
    already has its test figure. One that validates on the held-out
    ``'val'`` split is scored once more, on the test split, by
    ``runner.test()`` (its ``test_dataloader``).

    Args:
        runner (Runner): The runner after ``train()``.
        val_split (str): Split of the config's ``val_dataloader``.
        val_top1 (float): Top-1 (%) of the last validation.

    Returns:
        dict: ``test_top1`` and ``test_images``; with a val split also
        ``val_split``, ``val_top1`` and ``val_images``.
    """
    if val_split == 'test':
        return dict(test_top1=val_top1,
                    test_images=len(runner.val_dataloader.dataset))
    test_metrics = runner.test()
    if runner.test_dataloader.dataset.split != 'test':
        raise RuntimeError(
            f'test_dataloader reads split '
            f'{runner.test_dataloader.dataset.split!r}, expected \'test\' '
            'for the finished model\'s test top-1')
    return dict(test_top1=float(test_metrics['accuracy/top1']),
                test_images=len(runner.test_dataloader.dataset),
                val_split=val_split, val_top1=val_top1,
                val_images=len(runner.val_dataloader.dataset))


def default_checkpoint_path(config_path: str) -> str:
    """``configs/.../vit_fmnist.py`` -> ``checkpoints/fmnist_vit.pth``."""
    name = osp.splitext(osp.basename(config_path))[0]
    family = name[:-len('_fmnist')] if name.endswith('_fmnist') else name
    return osp.join('checkpoints', f'fmnist_{family}.pth')


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    name = osp.splitext(osp.basename(args.config))[0]
    cfg.work_dir = args.work_dir or osp.join('work_dirs', name)
    out_path = args.out or default_checkpoint_path(args.config)

    init_from_vit = cfg.get('init_from_vit')
    if init_from_vit:
        if not osp.isfile(init_from_vit):
            raise FileNotFoundError(
                f'init_from_vit={init_from_vit!r} of {args.config} not found: '
                'train the ViT first (configs/fashion_mnist/vit_fmnist.py)')
        vit_checkpoint = torch.load(
            init_from_vit, map_location='cpu', weights_only=True)
        os.makedirs(cfg.work_dir, exist_ok=True)
        cfg.load_from = osp.join(cfg.work_dir, 'init_from_vit.pth')
        torch.save(
            dict(state_dict=vit_to_deit_state_dict(
                vit_checkpoint['state_dict'])), cfg.load_from)

    runner = Runner.from_cfg(cfg)
    recorder = RecordValMetrics()
    runner.register_hook(recorder)

    load_before = os.getloadavg()[0]
    started, cpu_started = time.time(), time.process_time()
    runner.train()
    train_wall_s = time.time() - started
    # CPU seconds of this process: what the run costs on an idle core; the
    # wall time also counts the other users of a shared machine.
    train_cpu_s = time.process_time() - cpu_started
    load_after = os.getloadavg()[0]
    if 'accuracy/top1' not in recorder.metrics:
        raise RuntimeError(
            'training ended without a validation: set '
            'train_cfg.val_interval to train_cfg.max_epochs so the last '
            f'epoch is scored (metrics seen: {recorder.metrics})')
    top1 = float(recorder.metrics['accuracy/top1'])
    val_split = cfg.val_dataloader.dataset.get('split', 'test')
    scores = score_finished_model(runner, val_split, top1)

    model = runner.model.module if hasattr(runner.model,
                                           'module') else runner.model
    state_dict = {
        key: value.detach().cpu().clone()
        for key, value in model.state_dict().items()
    }
    meta = dict(
        config=cfg.pretty_text,
        config_path=args.config,
        dataset_meta=dict(classes=list(
            runner.train_dataloader.dataset.metainfo['classes'])),
        epochs=int(runner.epoch),
        iterations=int(runner.iter),
        seed=int(cfg.randomness.seed),
        train_split=cfg.train_dataloader.dataset.get('split', 'train'),
        train_images=len(runner.train_dataloader.dataset),
        **scores,
        train_wall_s=round(train_wall_s, 1),
        train_cpu_s=round(train_cpu_s, 1),
        load_average_1min=(round(load_before, 2), round(load_after, 2)),
        threads=args.threads,
        init_from_vit=init_from_vit or None,
        command=' '.join(shlex.quote(a) for a in [sys.executable] + sys.argv),
        finished=time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()),
        versions=dict(
            torch=str(torch.__version__),
            mmengine=mmengine.__version__,
            mmpretrain=mmpretrain.__version__),
    )
    os.makedirs(osp.dirname(out_path) or '.', exist_ok=True)
    torch.save(dict(meta=meta, state_dict=state_dict), out_path)
    size_mb = osp.getsize(out_path) / 2**20
    runner.logger.info(
        f'{name}: top-1 {meta["test_top1"]:.2f} % on {meta["test_images"]} '
        'test images' + (f', {meta["val_top1"]:.2f} % on the '
                         f'{meta["val_images"]} val images'
                         if 'val_top1' in meta else '') + ', '
        f'training {train_wall_s / 60:.1f} min wall, {train_cpu_s / 60:.1f} '
        f'min CPU with {args.threads} thread(s) (load {load_before:.1f} -> '
        f'{load_after:.1f}); wrote {out_path} ({size_mb:.2f} MiB)')


if __name__ == '__main__':
    main()
