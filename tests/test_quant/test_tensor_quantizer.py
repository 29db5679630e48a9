import copy

import pytest
import torch

from clamp_mm.quant import (TensorQuantizer, calculate_qparams, fake_quantize,
                            iter_quantizers, set_quant_mode)


def calibrated(x, **kwargs):
    quantizer = TensorQuantizer(**kwargs)
    quantizer.mode = 'calibrate'
    quantizer(x)
    quantizer.mode = 'quantize'
    return quantizer


def test_modes():
    x = torch.randn(50)
    quantizer = TensorQuantizer(bits=4)
    assert quantizer.mode == 'off' and quantizer(x) is x
    quantizer.mode = 'calibrate'
    assert quantizer(x) is x and not quantizer.is_calibrated
    quantizer.mode = 'quantize'
    assert quantizer.is_calibrated
    scale, zero_point = calculate_qparams(x.min(), x.max(), 4, False)
    torch.testing.assert_close(quantizer(x),
                               fake_quantize(x, scale, zero_point, 4, False))
    with pytest.raises(ValueError, match='calibrate'):
        quantizer.mode = 'train'


def test_per_channel_buffers_and_levels():
    weight = torch.randn(5, 12)
    quantizer = calibrated(weight, bits=4, channel_axis=0, num_channels=5)
    assert quantizer.scale.shape == (5, )
    restored = quantizer(weight)
    assert all(row.unique().numel() <= 16 for row in restored)
    assert ((restored - weight).abs()
            <= quantizer.scale[:, None] / 2 + 1e-6).all()


def test_straight_through_gradient():
    x = torch.randn(30)
    quantizer = calibrated(x, bits=8)
    x.requires_grad_(True)
    quantizer(x).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_constant_and_zero_tensors():
    for value in (0.0, 3.0):
        x = torch.full((4, 4), value)
        quantizer = calibrated(x, bits=8)
        assert quantizer.scale.item() > 0
        torch.testing.assert_close(quantizer(x), x)


def test_uncalibrated_quantize_raises_with_name():
    model = torch.nn.Sequential(TensorQuantizer())
    set_quant_mode(model, 'calibrate')
    set_quant_mode(model, 'quantize')  # saw no data: stays uncalibrated
    with pytest.raises(RuntimeError, match='0.*never'):
        model(torch.randn(3))


def test_set_bits_recomputes_from_range():
    x = torch.linspace(-1, 3, 100)
    quantizer = calibrated(x, bits=8)
    quantizer.set_bits(4)
    expected, _ = calculate_qparams(torch.tensor(-1.), torch.tensor(3.), 4,
                                    False)
    torch.testing.assert_close(quantizer.scale, expected)
    with pytest.raises(ValueError, match='2..8'):
        quantizer.set_bits(9)


def test_edited_scale_survives_mode_switch():
    quantizer = calibrated(torch.randn(20), bits=8)
    quantizer.scale.mul_(1.1)
    edited = quantizer.scale.clone()
    quantizer.mode = 'off'
    quantizer.mode = 'quantize'
    torch.testing.assert_close(quantizer.scale, edited)


def test_state_dict_round_trip_and_float_checkpoints():
    quantizer = calibrated(torch.randn(20), bits=6)
    restored = TensorQuantizer(bits=6)
    restored.load_state_dict(quantizer.state_dict())
    assert restored.is_calibrated
    torch.testing.assert_close(restored.scale, quantizer.scale)
    fresh = TensorQuantizer()
    fresh.load_state_dict({}, strict=True)  # a float checkpoint
    assert not fresh.is_calibrated
    assert copy.deepcopy(quantizer).scale.item() == quantizer.scale.item()


def test_log2_kind():
    probabilities = torch.softmax(torch.randn(8, 10), -1)
    quantizer = calibrated(probabilities, bits=4, kind='log2')
    out = quantizer(probabilities)
    nonzero = out[out > 0] / quantizer.scale
    torch.testing.assert_close(torch.log2(nonzero),
                               torch.log2(nonzero).round())


def test_iter_quantizers_names():
    model = torch.nn.Sequential(TensorQuantizer(), torch.nn.ReLU(),
                                torch.nn.Sequential(TensorQuantizer()))
    assert [name for name, _ in iter_quantizers(model)] == ['0', '2.0']


@pytest.mark.parametrize('bad', [
    dict(bits=1),
    dict(bits=9),
    dict(kind='cubic'),
    dict(channel_axis=0),
    dict(kind='log2', channel_axis=0, num_channels=3)
])
def test_bad_arguments(bad):
    with pytest.raises(ValueError):
        TensorQuantizer(**bad)
