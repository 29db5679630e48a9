"""onnxruntime top-1 of the shipped classifiers beside their fake-quant
PyTorch models, at W8/A8 and W4/A8 (the issue's 0.3-point target).

Calibration: 32 real Fashion-MNIST training images (seed 0), minmax
observers; scored on the first 1000 test images (test images only score).
"""
import copy
import os.path as osp

import numpy as np
import pytest
import torch

pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')

from clamp_mm.datasets.fashion_mnist import DEFAULT_DATA_ROOT  # noqa: E402
from deploy_models import RECIPES  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NUM_TEST = 1000
#: The issue's target, in top-1 points.
MAX_TOP1_GAP = 0.3
#: Share of test images on which onnxruntime and torch may disagree
#: (rounding ties move a few borderline images either way).
MIN_AGREEMENT = 98.0

needs_data = pytest.mark.skipif(
    not osp.isfile(osp.join(DEFAULT_DATA_ROOT, 't10k-images-idx3-ubyte.gz')),
    reason='apt-get install dataset-fashion-mnist')

#: All slow: reading the 60k training images for the calibration draw and
#: exporting take 1-4 min per case on 2 shared cores.
CASES = [
    pytest.param('vit', 'w4a8', marks=pytest.mark.slow),
    pytest.param('vit', 'w8a8', marks=pytest.mark.slow),
    pytest.param('deit', 'w8a8', marks=pytest.mark.slow),
    pytest.param('deit', 'w4a8', marks=pytest.mark.slow),
    pytest.param('swin', 'w8a8', marks=pytest.mark.slow),
    pytest.param('swin', 'w4a8', marks=pytest.mark.slow),
]


@needs_data
@pytest.mark.parametrize('key,recipe', CASES)
def test_onnxruntime_top1_matches_fake_quant(key, recipe, tmp_path,
                                             monkeypatch):
    from clamp_mm.benchmark.tasks import (MODEL_SPECS, ClassificationTask,
                                          load_float_model)
    from clamp_mm.deploy.onnx_export import export_onnx, exportable_module
    from clamp_mm.deploy.runtime import (count_kernels, create_session,
                                         predict_classes)
    from clamp_mm.models import find_adapter
    from clamp_mm.quant import quantize
    monkeypatch.chdir(REPO)  # the specs' paths are relative to the repo
    spec = MODEL_SPECS[key]
    model, _ = load_float_model(spec)
    adapter = find_adapter(model)
    task = ClassificationTask(spec, adapter, num_test=NUM_TEST)
    calibration, _ = task.real_images(adapter, 32, seed=0)
    quantized = copy.deepcopy(model)
    quantized_adapter = find_adapter(quantized)
    quantize(quantized, RECIPES[recipe],
             lambda m: quantized_adapter.forward_images(calibration))
    with torch.no_grad():
        torch_predictions = quantized_adapter.forward_images(
            task.images).argmax(-1).numpy()
    path = str(tmp_path / f'{key}_{recipe}.onnx')
    export_onnx(exportable_module(quantized), task.images[:1], path,
                require_integer=True)
    onnx_predictions = predict_classes(create_session(path),
                                       task.images.numpy())
    labels = task.labels.numpy()
    torch_top1 = 100.0 * np.mean(torch_predictions == labels)
    onnx_top1 = 100.0 * np.mean(onnx_predictions == labels)
    agreement = 100.0 * np.mean(onnx_predictions == torch_predictions)
    assert abs(onnx_top1 - torch_top1) <= MAX_TOP1_GAP, (onnx_top1,
                                                         torch_top1)
    assert agreement >= MIN_AGREEMENT
    # A trained model, not a near-constant classifier: a fake-quant model
    # at W4/A8 or better keeps most of its float top-1 (86-88 %).
    assert torch_top1 > 80.0
    assert count_kernels(path).integer > 0
