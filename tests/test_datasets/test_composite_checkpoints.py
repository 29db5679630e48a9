"""Shipped dense checkpoints: strict loading and their recorded scores.

Each checkpoint under ``checkpoints/`` records (in ``meta``) its score on the
first validation scenes of the default composite build (``meta['subset']``:
seed and count). Scenes depend only on (seed, split, index), so the test
regenerates just those and must reproduce the score.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint

from clamp_mm.datasets.composite_build import (build_composite_datasets,
                                               point_config_at_composite)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: (config, checkpoint) of each shipped dense model.
DENSE_MODELS = [
    ('configs/dense/mask-rcnn_swin-nano_fpn_composite-128.py',
     'checkpoints/mask-rcnn_swin-nano_fpn_composite-128.pth'),
    ('configs/dense/cascade-mask-rcnn_swin-nano_fpn_composite-128.py',
     'checkpoints/cascade-mask-rcnn_swin-nano_fpn_composite-128.pth'),
    ('configs/dense/upernet_swin-nano_composite-128.py',
     'checkpoints/upernet_swin-nano_composite-128.pth'),
]
#: Evaluation runs on CPU with one thread; only summation order can differ.
TOLERANCE = {'coco/bbox_mAP': 0.005, 'coco/segm_mAP': 0.005, 'mIoU': 0.1}


@pytest.mark.slow
@pytest.mark.parametrize('config_path,checkpoint_path', DENSE_MODELS)
def test_checkpoint_reproduces_recorded_score(config_path, checkpoint_path,
                                              tmp_path):
    checkpoint_path = osp.join(REPO, checkpoint_path)
    if not osp.isfile(checkpoint_path):
        pytest.skip(f'{checkpoint_path} not shipped; train it with '
                    'tools/train_dense.py')
    meta = torch.load(checkpoint_path, map_location='cpu')['meta']
    cfg = Config.fromfile(osp.join(REPO, config_path))
    build_composite_datasets(
        str(tmp_path / 'data'), num_train=1, **meta['subset'])
    cfg = point_config_at_composite(cfg, str(tmp_path / 'data'))
    cfg.work_dir = str(tmp_path / 'work')

    runner = Runner.from_cfg(cfg)
    # strict=True raises on any missing or unexpected key.
    load_checkpoint(runner.model, checkpoint_path, strict=True)
    metrics = runner.val()
    for key, expected in meta['subset_metrics'].items():
        if key in TOLERANCE:
            assert metrics[key] == pytest.approx(
                expected, abs=TOLERANCE[key]), key
