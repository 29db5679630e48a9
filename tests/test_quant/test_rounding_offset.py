"""A learned rounding held by a TensorQuantizer (rounding_offset)."""
import torch

from clamp_mm.quant import TensorQuantizer


def _weight_quantizer(weight, bits=4):
    quantizer = TensorQuantizer(bits=bits, channel_axis=0,
                                num_channels=weight.shape[0], point='weight')
    quantizer.mode = 'calibrate'
    quantizer(weight)
    quantizer.mode = 'quantize'
    return quantizer


def test_zero_offset_is_nearest_rounding():
    weight = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    quantizer = _weight_quantizer(weight)
    expected = quantizer(weight)
    assert quantizer.rounding_offset is None
    assert 'rounding_offset' not in quantizer.state_dict()
    quantizer.set_rounding_offset(torch.zeros_like(weight))
    torch.testing.assert_close(quantizer(weight), expected)


def test_offset_moves_codes_and_survives_a_state_dict():
    weight = torch.randn(6, 5, generator=torch.Generator().manual_seed(1))
    quantizer = _weight_quantizer(weight)
    nearest = quantizer(weight)
    codes = torch.round(nearest / quantizer.scale[:, None] +
                        quantizer.zero_point[:, None])
    wanted = torch.clamp(codes + 1, *quantizer.integer_range)
    quantizer.set_rounding_offset(quantizer.offset_for_codes(weight, wanted))
    moved = quantizer(weight)
    torch.testing.assert_close(
        moved, (wanted - quantizer.zero_point[:, None]) *
        quantizer.scale[:, None])
    fresh = TensorQuantizer(bits=4, channel_axis=0, num_channels=6,
                            point='weight')
    fresh.load_state_dict(quantizer.state_dict())
    fresh.mode = 'quantize'
    assert torch.equal(fresh(weight), moved)
    # Another bit-width voids the learned codes.
    fresh.set_bits(3)
    assert fresh.rounding_offset is None
