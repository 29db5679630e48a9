"""log-sqrt(2), twin-uniform and power-of-two-factor quantizers."""

import pytest
import torch

from clamp_mm.quant import (PowerOfTwoFactorQuantizer, TensorQuantizer,
                            TwinUniformQuantizer, log_fake_quantize,
                            log2_fake_quantize, twin_uniform_fake_quantize)
from clamp_mm.registry import QUANTIZERS


def calibrated(quantizer, *tensors):
    quantizer.mode = 'calibrate'
    for x in tensors:
        quantizer(x)
    quantizer.mode = 'quantize'
    return quantizer


def softmax_sample(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (3 * torch.randn(8, 2, 16, 16, generator=generator)).softmax(-1)


def test_log_sqrt2_levels_are_half_octaves():
    x = torch.tensor([1.0, 0.71, 0.5, 0.36, 0.26, 1e-9])
    restored = log_fake_quantize(x, torch.tensor(1.0), 4, 0.5)
    codes = -2 * torch.log2(restored[:5])
    torch.testing.assert_close(codes, torch.round(codes))
    torch.testing.assert_close(codes, torch.arange(5.0))
    assert restored[-1] == 0  # below the smallest level


def test_log2_is_log_with_octave_steps():
    x = softmax_sample()
    scale = torch.tensor(1.0)
    torch.testing.assert_close(log2_fake_quantize(x, scale, 4),
                               log_fake_quantize(x, scale, 4, 1.0))


def test_log_sqrt2_halves_the_relative_error_of_log2():
    x = softmax_sample()
    relative = {}
    for kind in ('log2', 'log_sqrt2'):
        quantizer = calibrated(TensorQuantizer(bits=4, kind=kind), x)
        restored = quantizer(x)
        kept = restored > 0
        relative[kind] = (restored[kept] / x[kept]).log2().abs().max()
        if kind == 'log_sqrt2':
            # 15 levels of half an octave from the largest value down.
            smallest = quantizer.scale * 2**(-14 * 0.5)
            assert (kept == (x >= smallest * 2**-0.25)).all()
    assert relative['log2'] <= 0.5 + 1e-4
    assert relative['log_sqrt2'] <= 0.25 + 1e-4
    uniform = calibrated(TensorQuantizer(bits=4), x)
    # Far more of the small probabilities survive than with uniform steps.
    small = x < 0.05
    assert ((calibrated(TensorQuantizer(bits=4, kind='log_sqrt2'), x)(x) > 0)
            & small).sum() > 5 * ((uniform(x) > 0) & small).sum()
    kernels = {kind: TensorQuantizer(kind=kind).kernel_kind
               for kind in ('log2', 'log_sqrt2', 'uniform')}
    assert kernels == dict(log2='log2', log_sqrt2='log-sqrt2',
                           uniform='uniform-per-tensor')
    assert not TensorQuantizer(kind='log_sqrt2').integer_mappable


def test_twin_uniform_primitive_two_grids():
    large, small = torch.tensor(0.1), torch.tensor(0.1 / 8)
    x = torch.tensor([0.0, 0.012, 0.05, 0.33, 0.7, 2.0])
    restored = twin_uniform_fake_quantize(x, large, small, 4, signed=False)
    # 3 magnitude bits: the fine grid holds up to 7 * small = 0.0875.
    torch.testing.assert_close(restored,
                               torch.tensor([0.0, 0.0125, 0.05, 0.3, 0.7,
                                             0.7]))
    signed = twin_uniform_fake_quantize(torch.tensor([-0.03, -1.0, 0.26]),
                                        large, small, 4, signed=True)
    torch.testing.assert_close(signed, torch.tensor([-0.025, -0.0875, 0.3]))


def test_twin_uniform_quantizer_softmax_and_gelu():
    x = softmax_sample()
    twin = calibrated(TwinUniformQuantizer(bits=4), x)
    uniform = calibrated(TensorQuantizer(bits=4), x)
    exponent = int(twin.ratio_exponent)
    assert exponent > 0
    errors = []
    for candidate in (0, exponent):
        twin.ratio_exponent.fill_(candidate)
        errors.append((twin(x) - x).pow(2).sum())
    assert errors[1] < errors[0]  # the chosen ratio beats equal steps
    small_scale = twin.scale / 2**exponent
    fine = x <= 7 * small_scale
    assert ((twin(x) - x)[fine].abs() <= small_scale / 2 + 1e-7).all()
    assert ((twin(x) - x)[fine].abs().mean() <
            (uniform(x) - x)[fine].abs().mean())
    assert twin(x).unique().numel() <= 16
    assert twin.kernel_kind == 'twin-uniform' and not twin.integer_mappable
    gelu = torch.nn.functional.gelu(3 * torch.randn(4000))
    signed = calibrated(TwinUniformQuantizer(bits=4, signed=True), gelu)
    plain = calibrated(TensorQuantizer(bits=4), gelu)
    negative = gelu < 0
    assert ((signed(gelu) - gelu)[negative].abs().mean() <
            (plain(gelu) - gelu)[negative].abs().mean())
    assert (signed(gelu)[negative] <= 0).all()


def test_twin_uniform_state_and_bits():
    x = softmax_sample()
    twin = calibrated(TwinUniformQuantizer(bits=5), x)
    fresh = TwinUniformQuantizer(bits=5)
    fresh.load_state_dict(twin.state_dict())
    fresh.mode = 'quantize'
    torch.testing.assert_close(fresh(x), twin(x))
    with pytest.raises(ValueError, match='2..8'):
        TwinUniformQuantizer(bits=1)
    with pytest.raises(ValueError, match='2..8'):
        twin.set_bits(9)
    twin.set_bits(2)  # one level above zero per range
    assert twin(x).unique().numel() <= 4


def outlier_channels(seed=0):
    generator = torch.Generator().manual_seed(seed)
    # Channel ranges from 1 to 40: what block outputs look like.
    gains = torch.tensor([1.0, 1.0, 2.0, 5.0, 1.0, 40.0, 3.0, 1.5])
    return torch.randn(4, 50, 8, generator=generator) * gains + 0.5


def test_power_of_two_factors_per_channel():
    x = outlier_channels()
    ptf = calibrated(PowerOfTwoFactorQuantizer(8, bits=4), x)
    per_tensor = calibrated(TensorQuantizer(bits=4), x)
    exponents = ptf.factor_exponent
    assert exponents.max() == 3 and exponents.min() == 0
    torch.testing.assert_close(exponents, exponents.round())
    assert exponents[5] == 3 and exponents[0] < 3
    assert ptf.scale.dim() == 0 and ptf.zero_point.dim() == 0
    error = (ptf(x) - x).pow(2).mean(dim=(0, 1))
    plain_error = (per_tensor(x) - x).pow(2).mean(dim=(0, 1))
    assert (error[[0, 1, 4]] < plain_error[[0, 1, 4]]).all()
    # Every channel keeps its own range inside its codes (no clipping).
    inside = (ptf(x) - x).abs() <= ptf.channel_scales() / 2 + 1e-5
    assert inside.all()
    assert ptf.kernel_kind == 'uniform-per-channel' and ptf.integer_mappable


def test_power_of_two_factors_state_dict_and_set_bits():
    x = outlier_channels()
    ptf = calibrated(PowerOfTwoFactorQuantizer(8, bits=4), x)
    fresh = PowerOfTwoFactorQuantizer(8, bits=4)
    fresh.load_state_dict(ptf.state_dict())
    fresh.mode = 'quantize'
    torch.testing.assert_close(fresh(x), ptf(x))
    scale_4 = ptf.scale.clone()
    ptf.set_bits(6)
    torch.testing.assert_close(ptf.scale, scale_4 * 15 / 63)
    with pytest.raises(ValueError, match='num_channels'):
        PowerOfTwoFactorQuantizer(0)


@pytest.mark.parametrize('name', [
    'TensorQuantizer', 'TwinUniformQuantizer', 'PowerOfTwoFactorQuantizer',
    'LayerNormReparamQuantizer'
])
def test_quantizers_registered(name):
    assert QUANTIZERS.get(f'clamp_mm.{name}') is not None
