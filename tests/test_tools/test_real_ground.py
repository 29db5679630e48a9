"""tools/quantize.py end to end on the project's real-data ground.

The trained Fashion-MNIST ViT and the small Mask R-CNN, Cascade Mask R-CNN
and UperNet trained on the composite sets, quantized at W8/A8 with a short
CLAMP run, evaluated by the task's own metric (mmpretrain Accuracy, mmdet
CocoMetric, mmseg IoUMetric) beside FP. The tolerances are the claim:
8-bit weights and activations calibrated on synthetic images alone keep
the FP quality within them. Skipped until the checkpoints exist
(tools/train_classifier.py, tools/train_dense.py); minutes on 2 CPU cores,
hence slow.
"""
import importlib.util
import os
import os.path as osp

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CHECKPOINT_DIRS = (osp.join(REPO, 'checkpoints'),
                   osp.expanduser('~/.cache/clamp_mm/checkpoints'))
#: A short CLAMP run: few generator steps, one search pass.
SHORT_RUN = [
    'test_cfg.num_images=8', 'test_cfg.generator.iterations=30',
    'test_cfg.generator.warmup_iterations=5',
    'test_cfg.generator.batch_size=8', 'test_cfg.calibrator.passes=1',
    'test_cfg.calibrator.cycles=2', 'test_cfg.calibrator.population_size=4',
    'test_cfg.calibrator.tournament_size=3',
    'test_cfg.calibrator.refresh_iterations=2'
]

torch.set_num_threads(1)
pytestmark = pytest.mark.slow


def find_checkpoint(name: str):
    for folder in CHECKPOINT_DIRS:
        path = osp.join(folder, name)
        if osp.isfile(path):
            return path
    return None


def run_quantize(config: str, checkpoint: str, work_dir: str, *options):
    spec = importlib.util.spec_from_file_location(
        'quantize_tool', osp.join(REPO, 'tools', 'quantize.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    cwd = os.getcwd()
    os.chdir(REPO)  # data roots in the configs are relative to the repo
    try:
        return tool.main([
            osp.join(REPO, config), checkpoint, '--work-dir', work_dir,
            '--fp', '--cfg-options', *SHORT_RUN, *options
        ])
    finally:
        os.chdir(cwd)


def require(name: str) -> str:
    checkpoint = find_checkpoint(name)
    if checkpoint is None:
        pytest.skip(f'{name} not trained yet')
    return checkpoint


def test_fashion_mnist_vit_w8a8_keeps_top1(tmp_path):
    checkpoint = require('fmnist_vit.pth')
    metrics = run_quantize(
        'configs/fmnist_quant/vit_fmnist_clamp_w8a8.py', checkpoint,
        str(tmp_path), 'test_dataloader.dataset.indices=2000')
    # Top-1 in percent, on 2,000 test images.
    assert metrics['fp/accuracy/top1'] > 50
    assert abs(metrics['accuracy/top1'] -
               metrics['fp/accuracy/top1']) <= 1.0


@pytest.mark.parametrize('name', [
    'mask-rcnn_swin-nano_fpn_composite-128',
    'cascade-mask-rcnn_swin-nano_fpn_composite-128'
])
def test_composite_detector_w8a8_keeps_box_and_mask_map(tmp_path, name):
    checkpoint = require(f'{name}.pth')
    metrics = run_quantize(f'configs/dense_quant/{name}_clamp_w8a8.py',
                           checkpoint, str(tmp_path))
    for key in ('coco/bbox_mAP', 'coco/segm_mAP'):
        assert key in metrics and f'fp/{key}' in metrics
        assert abs(metrics[key] - metrics[f'fp/{key}']) <= 0.02, key


def test_composite_upernet_w8a8_keeps_miou(tmp_path):
    name = 'upernet_swin-nano_composite-128'
    checkpoint = require(f'{name}.pth')
    metrics = run_quantize(f'configs/dense_quant/{name}_clamp_w8a8.py',
                           checkpoint, str(tmp_path))
    assert 'mIoU' in metrics and 'fp/mIoU' in metrics
    # mIoU in percent.
    assert abs(metrics['mIoU'] - metrics['fp/mIoU']) <= 1.5
