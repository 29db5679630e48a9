"""The no-gradient (inference) fake-quant paths give exactly the values of
the differentiable ones, and gradients still flow when asked for."""
import pytest
import torch

from clamp_mm.quant import primitives as P


def _both(function, x, *args):
    """``function`` without gradients, and with a gradient-carrying input
    (the straight-through path)."""
    with torch.no_grad():
        fast = function(x, *args)
    slow = function(x.clone().requires_grad_(), *args)
    assert slow.requires_grad
    return fast, slow.detach()


@pytest.mark.parametrize('bits', [2, 4, 8])
@pytest.mark.parametrize('symmetric', [False, True])
def test_uniform_inference_matches_straight_through(bits, symmetric):
    torch.manual_seed(bits)
    x = torch.randn(16, 20, 24) * 3
    scale = torch.tensor(0.07)
    zero_point = torch.tensor(0.0 if symmetric else float(2**(bits - 1)))
    fast, slow = _both(P.fake_quantize, x, scale, zero_point, bits,
                       symmetric)
    assert torch.equal(fast, slow)
    qmin, qmax = P.integer_range(bits, symmetric)
    reference = P._fake_quantize_reference(x, scale, zero_point, qmin, qmax,
                                           None)
    assert torch.equal(fast, reference)
    # Clipping happened (the test would not see a missing clamp otherwise).
    assert fast.max() < x.max() and fast.min() > x.min()
    # The input is not modified in place.
    assert not torch.equal(fast, x)

    scales = torch.linspace(0.02, 0.3, 24)
    zero_points = torch.full((24, ), 0.0 if symmetric else 1.0)
    fast, slow = _both(P.fake_quantize, x, scales, zero_points, bits,
                       symmetric, -1)
    assert torch.equal(fast, slow)


@pytest.mark.parametrize('step', [1.0, 0.5])
@pytest.mark.parametrize('bits', [2, 4, 8])
def test_log_inference_matches_straight_through(step, bits):
    torch.manual_seed(0)
    probabilities = torch.softmax(torch.randn(4, 2, 30, 30) * 4, -1)
    fast, slow = _both(P.log_fake_quantize, probabilities, torch.tensor(1.0),
                       bits, step)
    assert torch.equal(fast, slow)
    if bits < 8:
        assert (fast == 0).any()  # values below the smallest level
    # 2^b - 1 levels and zero.
    assert len(torch.unique(fast)) <= 2**bits


@pytest.mark.parametrize('signed', [False, True])
@pytest.mark.parametrize('bits', [2, 4, 8])
def test_twin_uniform_inference_matches_straight_through(signed, bits):
    torch.manual_seed(1)
    x = (torch.nn.functional.gelu(torch.randn(5000) * 3) if signed else
         torch.softmax(torch.randn(50, 100) * 4, -1))
    large = torch.tensor(0.8 if signed else 1.0) / (2**(bits - 1) - 1)
    small = large / 2**4
    fast, slow = _both(P.twin_uniform_fake_quantize, x, large, small, bits,
                       signed)
    assert torch.equal(fast, slow)
    # Both ranges are used.
    fine = fast[(fast != 0) & (fast.abs() < large / 2)]
    assert len(fine) > 0 and (fast.abs() >= large).any()


def test_gradient_still_flows_through_every_kind():
    x = torch.softmax(torch.randn(3, 10, 10), -1).requires_grad_()
    for output in (P.fake_quantize(x, torch.tensor(0.1), torch.tensor(0.),
                                   4, False),
                   P.log_fake_quantize(x, torch.tensor(1.0), 4, 0.5),
                   P.twin_uniform_fake_quantize(x, torch.tensor(0.2),
                                                torch.tensor(0.01), 4,
                                                False)):
        (grad, ) = torch.autograd.grad(output.sum(), x)
        assert grad.abs().sum() > 0
