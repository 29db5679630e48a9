"""RepQ-ViT post-LayerNorm reparameterization: folding math and quantizer."""
import copy

import torch
from torch import nn

from clamp_mm.quant import (LayerNormReparamQuantizer, QuantLinear,
                            TensorQuantizer, calculate_qparams, fake_quantize,
                            fold_channel_quantization, per_tensor_target,
                            set_quant_mode)


class NormLinear(nn.Module):
    """LayerNorm -> Linear with channels of very different ranges."""

    def __init__(self, channels=12, out=7, bias=True):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.linear = nn.Linear(channels, out, bias=bias)
        with torch.no_grad():
            self.norm.weight.copy_(torch.linspace(0.1, 6.0, channels))
            self.norm.bias.copy_(torch.linspace(-2.0, 3.0, channels))

    def forward(self, x):
        return self.linear(self.norm(x))


def inputs(seed=0):
    return torch.randn(6, 10, 12, generator=torch.Generator().manual_seed(seed))


def test_fold_is_exact_in_float():
    torch.manual_seed(0)
    for bias in (True, False):
        model = NormLinear(bias=bias)
        x = inputs()
        expected = model(x).detach()
        scale = torch.rand(12) + 0.05
        zero_point = torch.randint(0, 16, (12, )).float()
        target_scale, target_zero_point = per_tensor_target(scale, zero_point)
        fold_channel_quantization(model.norm, [model.linear], scale,
                                  zero_point, target_scale, target_zero_point)
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)


def swapped(model, bits=4):
    quant = copy.deepcopy(model)
    quant.linear = QuantLinear.from_float(
        quant.linear, nn.Identity(),
        LayerNormReparamQuantizer(12, quant.norm, [], bits=bits))
    quant.linear.input_quantizer.set_targets(quant.norm, [quant.linear])
    return quant


def test_folded_quantizer_is_per_tensor_with_per_channel_codes():
    torch.manual_seed(0)
    model = NormLinear()
    x = inputs()
    quant = swapped(model)
    set_quant_mode(quant, 'calibrate')
    quant(x)
    set_quant_mode(quant, 'quantize')
    quantizer = quant.linear.input_quantizer
    assert quantizer.is_folded and quantizer.scale.dim() == 0
    assert quantizer.kernel_kind == 'uniform-per-tensor'
    assert quantizer.integer_mappable
    # Reference: the float model with its LayerNorm output quantized per
    # channel (4 bits, min-max); the folded per-tensor model equals it.
    with torch.no_grad():
        normed = model.norm(x)
        flat = normed.reshape(-1, 12)
        scale, zero_point = calculate_qparams(flat.amin(0), flat.amax(0), 4,
                                              False)
        restored = fake_quantize(normed, scale, zero_point, 4, False, -1)
        expected = model.linear(restored)
        torch.testing.assert_close(quant(x), expected, rtol=1e-4, atol=1e-4)
        # ...and a plain per-tensor quantizer is much worse.
        plain_scale, plain_zero = calculate_qparams(flat.min(), flat.max(), 4,
                                                    False)
        plain = model.linear(
            fake_quantize(normed, plain_scale, plain_zero, 4, False))
        reference = model(x)
        assert ((quant(x) - reference).pow(2).mean() <
                0.5 * (plain - reference).pow(2).mean())
        # In float (quantizers off) the folded model is the original one.
        set_quant_mode(quant, 'off')
        torch.testing.assert_close(quant(x), reference, rtol=1e-4, atol=1e-4)


def test_weight_quantizer_follows_the_folded_weight():
    torch.manual_seed(0)
    model = NormLinear()
    quant = copy.deepcopy(model)
    quant.linear = QuantLinear.from_float(
        quant.linear,
        TensorQuantizer(bits=8, channel_axis=0, num_channels=7),
        LayerNormReparamQuantizer(12, quant.norm, [], bits=8))
    quant.linear.input_quantizer.set_targets(quant.norm, [quant.linear])
    set_quant_mode(quant, 'calibrate')
    quant(inputs())
    set_quant_mode(quant, 'quantize')
    weight = quant.linear.weight
    weight_quantizer = quant.linear.weight_quantizer
    torch.testing.assert_close(weight_quantizer.max_val,
                               weight.amax(1))
    with torch.no_grad():
        # 8 bits on the calibration data: close to float.
        torch.testing.assert_close(quant(inputs()), model(inputs()),
                                   rtol=0.05, atol=0.05)


def test_recalibration_and_state_dict_round_trip():
    torch.manual_seed(0)
    model = NormLinear()
    quant = swapped(model)
    for seed in (0, 1):  # a second calibration folds on top
        set_quant_mode(quant, 'calibrate')
        assert not quant.linear.input_quantizer.is_folded
        quant(inputs(seed))
        set_quant_mode(quant, 'quantize')
    with torch.no_grad():
        set_quant_mode(quant, 'off')
        torch.testing.assert_close(quant(inputs(2)), model(inputs(2)),
                                   rtol=1e-4, atol=1e-4)
        set_quant_mode(quant, 'quantize')
        expected = quant(inputs(2))
        fresh = swapped(model)
        fresh.load_state_dict(quant.state_dict())
        set_quant_mode(fresh, 'quantize')
        assert fresh.linear.input_quantizer.is_folded
        torch.testing.assert_close(fresh(inputs(2)), expected)
