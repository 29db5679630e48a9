"""ONNX export of quantized models: integer initializers, integer kernels,
outputs of onnxruntime beside the fake-quant PyTorch model."""
import os.path as osp

import numpy as np
import pytest
import torch

pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

from clamp_mm.deploy.onnx_export import (export_onnx,  # noqa: E402
                                         exportable_module, read_quant_points)
from clamp_mm.deploy.runtime import count_kernels, create_session  # noqa
from deploy_models import RECIPES, calibrated  # noqa: E402

#: One matmul kernel per linear layer and two per attention, at least: the
#: smallest model here (2 blocks) has 12 quantized matmuls.
MIN_INTEGER_KERNELS = 8


def _outputs(session, images):
    return session.run(None, {session.get_inputs()[0].name: images.numpy()})


def _torch_outputs(module, images):
    with torch.no_grad():
        outputs = module(images)
    if isinstance(outputs, torch.Tensor):
        outputs = (outputs, )
    return [output.numpy() for output in outputs]


#: Three families in the default run, both recipes; the rest of the grid
#: is slow-marked (a torch.export + ONNX translation of a tiny Swin takes
#: 10-70 s on 2 shared cores).
EXPORT_CASES = [
    ('timm-vit', 'w4a8'), ('timm-swin', 'w8a8'), ('mmpretrain-vit', 'w8a8'),
    pytest.param('mmdet-swin', 'w4a8', marks=pytest.mark.slow),
    pytest.param('timm-vit', 'w8a8', marks=pytest.mark.slow),
    pytest.param('timm-swin', 'w4a8', marks=pytest.mark.slow),
    pytest.param('mmpretrain-vit', 'w4a8', marks=pytest.mark.slow),
    pytest.param('mmdet-swin', 'w8a8', marks=pytest.mark.slow),
]


@pytest.mark.parametrize('family,recipe', EXPORT_CASES)
def test_export_runs_on_integer_kernels_with_fake_quant_outputs(
        family, recipe, tmp_path):
    _, quantized, size = calibrated(family, RECIPES[recipe])
    module = exportable_module(quantized)
    images = torch.randn(1, 3, *size)
    path = str(tmp_path / 'model.onnx')
    report = export_onnx(module, images, path, require_integer=True)
    assert report.quant_points and not report.float_points

    weights = {init.name: numpy_helper.to_array(init)
               for init in onnx.load(path).graph.initializer
               if init.data_type == onnx.TensorProto.INT8}
    # Every quantized Linear/Conv2d weight became int8 codes on its grid.
    assert report.folded_weights == sum(
        1 for entry in report.quant_points if entry.point == 'weight')
    assert len(weights) >= report.folded_weights
    limit = 2**(RECIPES[recipe]['weight_bits'] - 1)
    assert all(-limit <= codes.min() and codes.max() < limit
               for codes in weights.values())

    kernels = count_kernels(path)
    assert kernels.integer >= MIN_INTEGER_KERNELS
    # Left float: the head (float by the recipe) and at most the patch
    # embedding (its output is not quantized: no QLinearConv form).
    assert kernels.float <= 2

    # onnxruntime rounds ties differently from torch's fake quantization:
    # compare with a tolerance relative to the output's scale.
    expected = _torch_outputs(module, images)
    actual = _outputs(create_session(path), images)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.shape == want.shape
        gap = np.abs(got - want).mean() / np.abs(want).mean()
        assert gap < 0.1, f'mean relative gap {gap:.3f}'


def _initializer_bytes(path):
    """(float32 bytes, int8 bytes) of a file's initializers."""
    float_bytes = int8_bytes = 0
    for init in onnx.load(path).graph.initializer:
        size = numpy_helper.to_array(init).nbytes
        if init.data_type == onnx.TensorProto.FLOAT:
            float_bytes += size
        elif init.data_type == onnx.TensorProto.INT8:
            int8_bytes += size
    return float_bytes, int8_bytes


def test_weights_folded_make_the_file_small(tmp_path):
    from clamp_mm.quant import QuantConv2d, QuantLinear
    model, quantized, size = calibrated('timm-vit', RECIPES['w4a8'])
    images = torch.randn(1, 3, *size)
    float_path = str(tmp_path / 'fp32.onnx')
    quant_path = str(tmp_path / 'w4a8.onnx')
    export_onnx(exportable_module(model), images, float_path)
    export_onnx(exportable_module(quantized), images, quant_path)
    quantized_weights = sum(
        module.weight.numel() for module in quantized.modules()
        if isinstance(module, (QuantLinear, QuantConv2d)))
    float_bytes, int8_bytes = _initializer_bytes(float_path)
    quant_float_bytes, quant_int8_bytes = _initializer_bytes(quant_path)
    # Each quantized weight: one int8 code instead of a float.
    assert int8_bytes == 0 and quant_int8_bytes >= quantized_weights
    assert float_bytes - quant_float_bytes >= 0.95 * 4 * quantized_weights
    assert count_kernels(float_path).integer == 0


def test_log2_softmax_is_listed_as_float_operations(tmp_path):
    recipe = dict(RECIPES['w8a8'], softmax_quantizer='log2')
    _, quantized, size = calibrated('timm-vit', recipe)
    path = str(tmp_path / 'log2.onnx')
    report = export_onnx(exportable_module(quantized),
                         torch.randn(1, 3, *size), path)
    softmax = [entry for entry in report.quant_points
               if entry.point == 'softmax']
    assert len(softmax) == 2 and report.float_points == softmax
    assert all('float operations' in entry.exported_as for entry in softmax)
    assert 'softmax' in report.summary()
    # The list travels with the file.
    stored = read_quant_points(path)
    assert [entry.name for entry in stored if not entry.integer] == [
        entry.name for entry in softmax]
    # And the file runs.
    session = create_session(path)
    assert _outputs(session, torch.randn(1, 3, *size))[0].shape == (1, 10)
    with pytest.raises(ValueError, match=r'softmax_quantizer \(softmax\) has no integer kernel '
                       'form: float operations'):
        export_onnx(exportable_module(quantized), torch.randn(1, 3, *size),
                    str(tmp_path / 'refused.onnx'), require_integer=True)
    assert not osp.exists(tmp_path / 'refused.onnx')


def test_asymmetric_weights_are_noted_and_refused_on_request(tmp_path):
    recipe = dict(preset='minmax', weight_bits=8, act_bits=8,
                  weight_symmetric=False)
    _, quantized, size = calibrated('timm-vit', recipe)
    path = tmp_path / 'asymmetric.onnx'
    path.write_bytes(b'an earlier export')
    with pytest.raises(ValueError) as error:
        export_onnx(exportable_module(quantized), torch.randn(1, 3, *size),
                    str(path), require_integer=True)
    message = str(error.value)
    assert '\n' not in message and 'weight_quantizer' in message
    assert 'weight_symmetric=True' in message
    # Nothing already written is lost.
    assert path.read_bytes() == b'an earlier export'
    report = export_onnx(exportable_module(quantized),
                         torch.randn(1, 3, *size), str(path))
    assert report.noted_points and all(
        entry.point == 'weight' for entry in report.noted_points)


def test_uncalibrated_model_gives_one_line_naming_the_quantizer(tmp_path):
    from clamp_mm.models import find_adapter
    from clamp_mm.quant import quantize, set_quant_mode
    model, size = __import__('deploy_models').timm_vit()
    find_adapter(model)
    quantize(model, RECIPES['w8a8'])  # swapped, never calibrated
    set_quant_mode(model, 'quantize')
    with pytest.raises(ValueError) as error:
        export_onnx(exportable_module(model), torch.randn(1, 3, *size),
                    str(tmp_path / 'model.onnx'))
    message = str(error.value)
    assert '\n' not in message and 'never calibrated' in message
    assert 'patch_embed.proj.input_quantizer' in message
    assert not osp.exists(tmp_path / 'model.onnx')
