"""tools/export_onnx.py and tools/check_onnx.py on a saved quantized model."""
import importlib.util
import os.path as osp

import pytest
import torch

pytest.importorskip('onnxruntime')
pytest.importorskip('onnxscript')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'fmnist_quant', 'vit_fmnist_clamp_w4a8.py')
FLOAT_CHECKPOINT = osp.join(REPO, 'checkpoints', 'fmnist_vit.pth')
# The uniform preset: clamp_full's log-sqrt(2) softmax and twin-uniform GELU
# have no integer QDQ form (README, Deploy).
RECIPE = dict(weight_bits=4, act_bits=8, weight_symmetric=True, preset='minmax')


def load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, 'tools', f'{name}.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.fixture(scope='module')
def quantized_checkpoint(tmp_path_factory):
    """A quantized_model.pth as tools/quantize.py writes it (calibrated on
    32 real training images instead of a CLAMP run, to be quick)."""
    from mmengine.runner import load_checkpoint

    from clamp_mm.datasets.fashion_mnist import load_fashion_mnist_images
    from clamp_mm.deploy.loading import build_float_model
    from clamp_mm.pipeline.quantized_checkpoint import save_quantized
    from clamp_mm.models import find_adapter
    from clamp_mm.quant import QuantRecipe, quantize
    _, model = build_float_model(CONFIG)
    load_checkpoint(model, FLOAT_CHECKPOINT, map_location='cpu',
                    logger='silent')
    adapter = find_adapter(model)
    images = load_fashion_mnist_images(32, split='train', seed=0)
    quantize(model, RECIPE, lambda m: adapter.forward_images(images))
    path = str(tmp_path_factory.mktemp('quantized') / 'quantized_model.pth')
    return save_quantized(model, path, QuantRecipe.from_dict(RECIPE))


def _bad_input(tool, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tool.main(argv)
    assert exit_info.value.code == 2
    message = capsys.readouterr().err.strip()
    assert len(message.splitlines()) == 1
    return message


def test_export_tool_writes_an_integer_model(quantized_checkpoint, tmp_path,
                                             capsys):
    from clamp_mm.deploy.runtime import count_kernels
    out = str(tmp_path / 'model.onnx')
    report = load_tool('export_onnx').main(
        [CONFIG, quantized_checkpoint, '--out', out, '--require-integer'])
    assert osp.isfile(out) and report.path == out
    assert not report.float_points
    assert count_kernels(out).integer >= 4 * 6  # 4 blocks, 6 matmuls each
    assert 'quant points as integer QDQ' in capsys.readouterr().out


def test_export_tool_bad_input_is_one_line(quantized_checkpoint, tmp_path,
                                           capsys):
    tool = load_tool('export_onnx')
    out = tmp_path / 'model.onnx'
    message = _bad_input(tool, ['missing.py', quantized_checkpoint, '--out',
                                str(out)], capsys)
    assert 'missing.py does not exist' in message
    message = _bad_input(tool, [CONFIG, quantized_checkpoint, '--out',
                                str(tmp_path / 'model.pth')], capsys)
    assert '.onnx' in message
    message = _bad_input(tool, [CONFIG, quantized_checkpoint, '--out',
                                str(out), '--opset', '17'], capsys)
    assert '--opset must be one of [20, 21], got 17' in message
    # A float checkpoint is not a quantized one: named, nothing written.
    message = _bad_input(tool, [CONFIG, FLOAT_CHECKPOINT, '--out', str(out)],
                         capsys)
    assert 'not a clamp_mm quantized checkpoint' in message
    assert not out.exists()


@pytest.mark.slow
def test_check_tool_prints_the_side_by_side_table(quantized_checkpoint,
                                                  tmp_path, capsys):
    rows = load_tool('check_onnx').main([
        CONFIG, quantized_checkpoint, '--work-dir', str(tmp_path),
        '--num-test', '200', '--threads', '1', '--rounds', '1',
        '--runs-per-round', '3'
    ])
    labels = [row.label for row in rows]
    assert labels == ['fake-quant PyTorch', 'FP32 ONNX', 'W4/A8 ONNX']
    fake_quant, float_onnx, quant_onnx = rows
    assert abs(quant_onnx.metrics['top1'] - fake_quant.metrics['top1']) <= 1.0
    assert float_onnx.kernels.integer == 0
    assert quant_onnx.kernels.integer > 0
    assert quant_onnx.file_bytes < 0.6 * float_onnx.file_bytes
    assert all(row.latency[1] > 0 for row in rows)
    printed = capsys.readouterr().out
    assert '| W4/A8 ONNX |' in printed and 'machine load' in printed


def test_check_tool_bad_input_is_one_line(quantized_checkpoint, capsys):
    tool = load_tool('check_onnx')
    message = _bad_input(tool, [CONFIG, quantized_checkpoint, '--num-test',
                                '0'], capsys)
    assert '--num-test must be >= 1, got 0' in message
    message = _bad_input(tool, [CONFIG, quantized_checkpoint, '--onnx',
                                'missing.onnx'], capsys)
    assert 'missing.onnx does not exist' in message
