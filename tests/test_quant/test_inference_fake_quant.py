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


def _gelu_like(shape):
    return torch.nn.functional.gelu(torch.randn(shape) * 3)


def _softmax_like(shape):
    return torch.softmax(torch.randn(shape) * 4, -1)


#: name -> (input maker, fake quantization of (x, scale)); the first scale
#: argument is the one made learnable for the plain-operations reference.
KINDS = {
    'uniform': (lambda s: torch.randn(s) * 3, lambda x, scale: P.fake_quantize(
        x, scale, torch.tensor(8.0), 4, False)),
    'uniform_per_channel': (lambda s: torch.randn(s) * 3, lambda x, scale:
                            P.fake_quantize(x, scale * torch.linspace(
                                0.3, 2, 30), torch.full((30, ), 3.0), 4,
                                            False, -1)),
    'log_sqrt2': (_softmax_like, lambda x, scale: P.log_fake_quantize(
        x, scale * 10, 4, 0.5)),
    'twin_uniform_signed': (_gelu_like, lambda x, scale: P.
                            twin_uniform_fake_quantize(x, scale, scale / 16,
                                                       4, True)),
    'twin_uniform_softmax': (_softmax_like, lambda x, scale: P.
                             twin_uniform_fake_quantize(x, scale,
                                                        scale / 8, 4, False)),
}


@pytest.mark.parametrize('kind', sorted(KINDS))
def test_straight_through_node_matches_plain_operations(kind):
    """With a gradient wanted for the input only, one autograd node gives
    the values of the inference path and, to float rounding, the gradient
    of the plain operations (taken when the scale is learnable too)."""
    make_input, quantize = KINDS[kind]
    torch.manual_seed(3)
    x = make_input((20, 40, 30))
    upstream = torch.randn_like(x)
    scale = torch.tensor(0.1)
    fast_input = x.clone().requires_grad_()
    fast = quantize(fast_input, scale)
    assert fast.grad_fn.__class__.__name__ == '_StraightThroughBackward'
    fast.backward(upstream)
    plain_input = x.clone().requires_grad_()
    learnable = scale.clone().requires_grad_()
    plain = quantize(plain_input, learnable)
    assert plain.grad_fn.__class__.__name__ != '_StraightThroughBackward'
    plain.backward(upstream)
    with torch.no_grad():
        assert torch.equal(fast, quantize(x, scale))
    assert torch.equal(fast.detach(), plain.detach())
    assert torch.allclose(fast_input.grad, plain_input.grad, rtol=1e-5,
                          atol=1e-6)
    # Some values were clipped (no gradient) and most were not.
    passed = (plain_input.grad != 0).float().mean()
    assert 0.02 < passed < 0.999
    assert learnable.grad is not None and learnable.grad != 0


def test_range_ends_keep_their_gradient():
    """A value on the largest (or smallest) level is not clipped: its
    gradient passes, as torch's fused fake-quant kernel does, in every
    kind (``torch.clamp`` alone would stop it)."""
    scale = torch.tensor(0.5)
    on_ends = torch.tensor([-1.0, 0.0, 1.0, 3.5, 4.0]).requires_grad_()
    # 4-bit signed uniform: codes -8..7, so 3.5 is the largest level and
    # 4.0 is clipped.
    P.fake_quantize(on_ends, scale, torch.tensor(0.0), 4, True).sum(
    ).backward()
    assert on_ends.grad.tolist() == [1.0, 1.0, 1.0, 1.0, 0.0]
    # Twin-uniform post-GELU: x = 0 is code 0 of the coarse range and the
    # largest coarse level (7 steps) passes, above it not.
    x = torch.tensor([-0.01, 0.0, 3.5, 3.9]).requires_grad_()
    P.twin_uniform_fake_quantize(x, scale, scale / 4, 4, True).sum(
    ).backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 0.0]
    # Log grid: the largest level (code 0, x = scale) passes with the
    # derivative dequantized / x = 1; values above the scale are clipped.
    p = torch.tensor([0.5, 0.6]).requires_grad_()
    P.log_fake_quantize(p, scale, 4, 0.5).sum().backward()
    assert p.grad.tolist() == [1.0, 0.0]
