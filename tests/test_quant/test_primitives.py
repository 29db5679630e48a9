import pytest
import torch

from clamp_mm.quant import (MIN_SCALE, calculate_qparams, fake_quantize,
                            integer_range, log2_fake_quantize, round_ste)


def reference_fake_quantize(x, scale, zero_point, qmin, qmax):
    """Textbook formula, element by element in float64."""
    out = torch.empty_like(x, dtype=torch.float64)
    for index, value in enumerate(x.double().flatten().tolist()):
        code = min(max(round(value / scale) + zero_point, qmin), qmax)
        out.view(-1)[index] = (code - zero_point) * scale
    return out.float()


@pytest.mark.parametrize('bits', [2, 4, 8])
@pytest.mark.parametrize('symmetric', [False, True])
def test_fake_quantize_matches_reference(bits, symmetric):
    torch.manual_seed(bits)
    x = torch.randn(200) * 3 + 0.5
    scale, zero_point = calculate_qparams(x.min(), x.max(), bits, symmetric)
    qmin, qmax = integer_range(bits, symmetric)
    expected = reference_fake_quantize(x, scale.item(), int(zero_point.item()),
                                       qmin, qmax)
    actual = fake_quantize(x, scale, zero_point, bits, symmetric)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)
    # The plain path (taken with a learnable scale) agrees, and the scale
    # gets a gradient there.
    learnable = scale.clone().requires_grad_(True)
    plain = fake_quantize(x, learnable, zero_point, bits, symmetric)
    torch.testing.assert_close(plain.detach(), expected, atol=1e-5, rtol=0)
    plain.sum().backward()
    assert learnable.grad is not None


@pytest.mark.parametrize('bits', [2, 4, 8])
def test_error_within_half_step_and_levels(bits):
    torch.manual_seed(0)
    weight = torch.randn(6, 40)
    scale, zero_point = calculate_qparams(weight.amin(1), weight.amax(1), bits,
                                          False)
    restored = fake_quantize(weight,
                             scale,
                             zero_point,
                             bits,
                             False,
                             channel_axis=0)
    error = (restored - weight).abs()
    assert (error <= scale[:, None] / 2 + 1e-6).all()
    for row in restored:
        assert row.unique().numel() <= 2**bits


def test_asymmetric_qparams_follow_method_formula():
    scale, zero_point = calculate_qparams(torch.tensor(-1.0),
                                          torch.tensor(3.0), 4, False)
    assert scale.item() == pytest.approx(4.0 / 15)
    assert zero_point.item() == round(1.0 / (4.0 / 15))


def test_scale_never_zero_for_constant_tensors():
    for value in (0.0, 2.5, -1.0):
        x = torch.full((10, ), value)
        for symmetric in (False, True):
            scale, zero_point = calculate_qparams(x.min(), x.max(), 8,
                                                  symmetric)
            assert scale.item() >= MIN_SCALE * 0.999  # float32 of 1e-8
            restored = fake_quantize(x, scale, zero_point, 8, symmetric)
            assert torch.isfinite(restored).all()
            if symmetric:
                assert ((restored - x).abs() <= scale / 2 + 1e-6).all()
            else:  # zero is in range, so the constant is an exact level
                torch.testing.assert_close(restored, x, atol=1e-6, rtol=1e-5)


def test_round_ste_passes_gradient():
    x = torch.tensor([0.2, 1.7, -2.4], requires_grad=True)
    y = round_ste(x)
    assert y.tolist() == [0.0, 2.0, -2.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


def test_fake_quantize_gradient_is_straight_through_inside_range():
    x = torch.tensor([-0.5, 0.1, 0.33, 5.0], requires_grad=True)
    scale, zero_point = calculate_qparams(torch.tensor(-1.0),
                                          torch.tensor(1.0), 8, False)
    fake_quantize(x, scale, zero_point, 8, False).sum().backward()
    # Inside the range the gradient is 1; the clipped 5.0 gets none.
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 0.0]


def test_log2_levels_are_powers_of_two():
    probabilities = torch.softmax(torch.randn(4, 16), dim=-1)
    restored = log2_fake_quantize(probabilities, torch.tensor(1.0), 4)
    nonzero = restored[restored > 0]
    exponents = -torch.log2(nonzero)
    torch.testing.assert_close(exponents, exponents.round())
    assert exponents.max() <= 2**4 - 2
    # Rounding in the log domain: within a factor sqrt(2) of the input.
    kept = restored > 0
    ratio = restored[kept] / probabilities[kept]
    assert ((ratio >= 2**-0.5 - 1e-6) & (ratio <= 2**0.5 + 1e-6)).all()
    assert (probabilities[~kept] < 2.0**-(2**4 - 2)).all()
