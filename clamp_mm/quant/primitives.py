"""Pure fake-quantization functions: no state, no modules.

Everything here works on float tensors and returns float tensors
("quantize-dequantize"). Integer codes are never materialised outside these
functions. Rounding uses the straight-through estimator (STE): the forward
pass rounds, the backward pass treats rounding as the identity.
"""
from typing import Optional, Tuple

import torch

from .straight_through import straight_through

#: Smallest step a quantizer may have: a zero step would divide by zero.
MIN_SCALE = 1e-8


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer with a straight-through gradient.

    Args:
        x (Tensor): Input.

    Returns:
        Tensor: ``round(x)`` in the forward pass; the gradient is passed
        through unchanged.
    """
    return x + (torch.round(x) - x).detach()


def integer_range(bits: int, symmetric: bool) -> Tuple[int, int]:
    """Smallest and largest integer code of a ``bits``-bit quantizer.

    Args:
        bits (int): Bit-width, at least 2.
        symmetric (bool): Signed codes centred on zero when True, unsigned
            codes ``0 .. 2^bits - 1`` otherwise.

    Returns:
        tuple[int, int]: ``(qmin, qmax)``.
    """
    if bits < 2:
        raise ValueError(f'bits must be >= 2, got {bits}')
    if symmetric:
        return -(2**(bits - 1)), 2**(bits - 1) - 1
    return 0, 2**bits - 1


def broadcast_to_axis(values: torch.Tensor, like: torch.Tensor,
                      channel_axis: Optional[int]) -> torch.Tensor:
    """Reshape per-channel ``values`` so they broadcast along ``channel_axis``.

    Args:
        values (Tensor): Scalar (per-tensor) or shape (C,) (per-channel).
        like (Tensor): The tensor the values will be combined with.
        channel_axis (int, optional): Axis of ``like`` that holds the C
            channels; None for per-tensor values.

    Returns:
        Tensor: ``values`` viewed with shape (1, .., C, .., 1).
    """
    if channel_axis is None or values.dim() == 0:
        return values
    shape = [1] * like.dim()
    shape[channel_axis] = -1
    return values.reshape(shape)


def calculate_qparams(min_val: torch.Tensor, max_val: torch.Tensor, bits: int,
                      symmetric: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    """Step (scale) and zero point that cover the range [min_val, max_val].

    The range is first widened to include zero, so zero (padding, ReLU-like
    outputs, masked attention) is represented exactly. Asymmetric:
    ``scale = (max - min) / (2^b - 1)``, ``zero_point = round(-min / scale)``.
    Symmetric: ``scale = max(|min|, |max|) / ((2^b - 1) / 2)``, zero point 0.
    The scale is clamped to at least :data:`MIN_SCALE`, so a constant or
    all-zero tensor still gets a valid (never zero) step.

    Args:
        min_val (Tensor): Lower end of the range, scalar or per channel.
        max_val (Tensor): Upper end of the range, same shape.
        bits (int): Bit-width.
        symmetric (bool): Symmetric (signed) or asymmetric (unsigned) codes.

    Returns:
        tuple[Tensor, Tensor]: ``(scale, zero_point)``, float tensors of
        the shape of ``min_val``; the zero point holds integer values.
    """
    qmin, qmax = integer_range(bits, symmetric)
    min_val = torch.clamp(min_val.float(), max=0.0)
    max_val = torch.clamp(max_val.float(), min=0.0)
    if symmetric:
        absolute_max = torch.maximum(-min_val, max_val)
        scale = absolute_max / ((qmax - qmin) / 2)
        scale = torch.clamp(scale, min=MIN_SCALE)
        zero_point = torch.zeros_like(scale)
    else:
        scale = (max_val - min_val) / (qmax - qmin)
        scale = torch.clamp(scale, min=MIN_SCALE)
        zero_point = torch.clamp(qmin - torch.round(min_val / scale), qmin,
                                 qmax)
    return scale, zero_point


def fake_quantize(x: torch.Tensor,
                  scale: torch.Tensor,
                  zero_point: torch.Tensor,
                  bits: int,
                  symmetric: bool,
                  channel_axis: Optional[int] = None) -> torch.Tensor:
    """Uniform quantize-dequantize.

    ``q = clamp(round(x / scale) + zero_point, qmin, qmax)``, returns
    ``(q - zero_point) * scale``. Rounding has a straight-through gradient;
    values outside ``[qmin, qmax]`` (clipped) get no gradient, the range
    ends included get it. When no gradient is wanted (inference), a few
    in-place passes compute the same values (faster on CPU than torch's
    fused kernel); with a gradient wanted for the input only, the same
    passes and a mask of the unclipped values make one autograd node
    (:func:`~clamp_mm.quant.straight_through.straight_through`); while a
    tracer records the graph (ONNX export), float32 inputs take torch's
    fused kernels; otherwise (a learnable scale, which then receives a
    gradient) plain operations.

    Args:
        x (Tensor): Input.
        scale (Tensor): Step, scalar or shape (C,).
        zero_point (Tensor): Zero point, same shape as ``scale``.
        bits (int): Bit-width.
        symmetric (bool): Signed codes when True.
        channel_axis (int, optional): Axis of ``x`` that per-channel
            ``scale`` refers to. Defaults to None (per tensor).

    Returns:
        Tensor: Fake-quantized ``x``, same shape and dtype.
    """
    qmin, qmax = integer_range(bits, symmetric)
    if not _tracing():
        if not _wants_grad(x, scale):
            return _fake_quantize_inference(x, scale, zero_point, qmin, qmax,
                                            channel_axis)
        if not scale.requires_grad:
            return straight_through(_uniform_kernel, x, scale, zero_point,
                                    qmin, qmax, channel_axis, True)
    if x.dtype == torch.float32 and not scale.requires_grad:
        # The form torch.onnx writes as QuantizeLinear + DequantizeLinear
        # (multiplies by 1/scale rather than dividing, which can move an
        # exact tie by one ulp).
        if channel_axis is None or scale.dim() == 0:
            return torch.fake_quantize_per_tensor_affine(
                x, scale.reshape(()).float(),
                zero_point.reshape(()).to(torch.int32), qmin, qmax)
        return torch.fake_quantize_per_channel_affine(
            x, scale.float(), zero_point.to(torch.int32),
            channel_axis % x.dim(), qmin, qmax)
    return _fake_quantize_reference(x, scale, zero_point, qmin, qmax,
                                    channel_axis)


def nearest_codes(x: torch.Tensor, scale: torch.Tensor,
                  zero_point: torch.Tensor,
                  channel_axis: Optional[int] = None) -> torch.Tensor:
    """Nearest integer codes ``round(x / scale) + zero_point``, unclipped
    (what :func:`fake_quantize_with_offset` starts from)."""
    scale = broadcast_to_axis(scale, x, channel_axis).to(x.dtype)
    zero_point = broadcast_to_axis(zero_point, x, channel_axis).to(x.dtype)
    return torch.round(x / scale) + zero_point


def fake_quantize_with_offset(x: torch.Tensor,
                              scale: torch.Tensor,
                              zero_point: torch.Tensor,
                              offset: torch.Tensor,
                              bits: int,
                              symmetric: bool,
                              channel_axis: Optional[int] = None
                              ) -> torch.Tensor:
    """Uniform quantize-dequantize with a learned rounding.

    ``q = clamp(round(x / scale) + offset + zero_point, qmin, qmax)``:
    ``offset`` (integers, the shape of ``x``) moves single values to
    another code than the nearest one (AdaRound). The gradient with respect
    to ``x`` is straight-through inside the range.

    Args:
        x (Tensor): Input (a weight).
        scale (Tensor): Step, scalar or shape (C,).
        zero_point (Tensor): Zero point, same shape as ``scale``.
        offset (Tensor): Integer offsets, shape of ``x``.
        bits (int): Bit-width.
        symmetric (bool): Signed codes when True.
        channel_axis (int, optional): Axis of the channels of a per-channel
            ``scale``. Defaults to None.

    Returns:
        Tensor: Fake-quantized ``x``.
    """
    qmin, qmax = integer_range(bits, symmetric)
    codes = nearest_codes(x.detach(), scale, zero_point, channel_axis)
    codes = torch.clamp(codes + offset.to(x.dtype), qmin, qmax)
    scale = broadcast_to_axis(scale, x, channel_axis).to(x.dtype)
    zero_point = broadcast_to_axis(zero_point, x, channel_axis).to(x.dtype)
    dequantized = (codes - zero_point) * scale
    return x + (dequantized - x).detach()


def _wants_grad(x: torch.Tensor, *scales: torch.Tensor) -> bool:
    """Whether autograd will want a gradient through a fake quantization."""
    return torch.is_grad_enabled() and (x.requires_grad or any(
        scale.requires_grad for scale in scales))


def _tracing() -> bool:
    """Whether a tracer (torch.export / dynamo, torch.onnx, torch.jit)
    records the graph: then the fused kernels stay, which torch.onnx writes
    as QuantizeLinear + DequantizeLinear."""
    return (torch.compiler.is_compiling() or torch.jit.is_tracing()
            or torch.onnx.is_in_onnx_export())


def _fake_quantize_inference(x: torch.Tensor, scale: torch.Tensor,
                             zero_point: torch.Tensor, qmin: int, qmax: int,
                             channel_axis: Optional[int]) -> torch.Tensor:
    """The values of :func:`_fake_quantize_reference` when no gradient is
    wanted: one new tensor, then in-place passes. On one CPU thread this is
    about five times faster than torch's fused
    ``fake_quantize_per_tensor_affine`` kernel (docs/benchmark_fake_quant.md)."""
    return _uniform_kernel(x, scale, zero_point, qmin, qmax, channel_axis,
                           False)[0]


def _uniform_kernel(x: torch.Tensor, scale: torch.Tensor,
                    zero_point: torch.Tensor, qmin: int, qmax: int,
                    channel_axis: Optional[int], gradient_mask: bool):
    """The fake-quantized values, in place after the first pass, and, if
    ``gradient_mask``, the mask of the codes inside ``[qmin, qmax]`` (ends
    included, as the reference's gradient), else None."""
    scale = broadcast_to_axis(scale, x, channel_axis).to(x.dtype)
    zero_point = broadcast_to_axis(zero_point, x, channel_axis).to(x.dtype)
    codes = torch.div(x, scale).round_().add_(zero_point)
    if not gradient_mask:
        return codes.clamp_(qmin, qmax).sub_(zero_point).mul_(scale), None
    clamped = codes.clamp(qmin, qmax)
    inside = clamped == codes
    return clamped.sub_(zero_point).mul_(scale), inside


def _fake_quantize_reference(x: torch.Tensor, scale: torch.Tensor,
                             zero_point: torch.Tensor, qmin: int, qmax: int,
                             channel_axis: Optional[int]) -> torch.Tensor:
    """Plain-PyTorch fake quantization; differentiable in ``scale``."""
    scale = broadcast_to_axis(scale, x, channel_axis).to(x.dtype)
    zero_point = broadcast_to_axis(zero_point, x, channel_axis).to(x.dtype)
    codes = _clamp_keeping_ends(round_ste(x / scale) + zero_point, qmin, qmax)
    return (codes - zero_point) * scale


def _clamp_keeping_ends(codes: torch.Tensor, low: float,
                        high: float) -> torch.Tensor:
    """``codes.clamp(low, high)`` whose gradient passes where ``low <= codes
    <= high``: the range ends included, as
    ``torch.fake_quantize_per_tensor_affine`` and the straight-through
    kernels do (``torch.clamp`` stops it at the ends themselves)."""
    inside = (codes >= low) & (codes <= high)
    return torch.where(inside, codes, codes.detach().clamp(low, high))


def log2_fake_quantize(x: torch.Tensor, scale: torch.Tensor,
                       bits: int) -> torch.Tensor:
    """Power-of-two quantize-dequantize for non-negative inputs.

    Meant for softmax probabilities: their long tail of small values gets
    fine steps near zero. Code ``c`` in ``0 .. 2^b - 2`` stands for
    ``scale * 2^-c``; the last code stands for exactly zero, as do inputs
    below the smallest level. Negative inputs are treated as zero. The
    exponent is rounded with a straight-through gradient.

    Args:
        x (Tensor): Non-negative input (e.g. attention probabilities).
        scale (Tensor): Largest level (scalar), typically the observed
            maximum (1 for softmax).
        bits (int): Bit-width.

    Returns:
        Tensor: Fake-quantized ``x``.
    """
    return log_fake_quantize(x, scale, bits, exponent_step=1.0)


def log_fake_quantize(x: torch.Tensor, scale: torch.Tensor, bits: int,
                      exponent_step: float) -> torch.Tensor:
    """Logarithmic quantize-dequantize for non-negative inputs.

    Code ``c`` in ``0 .. 2^b - 2`` stands for ``scale * 2^(-c * step)``;
    the last code stands for exactly zero, as do inputs below the smallest
    level. ``exponent_step=1`` is the log2 quantizer of FQ-ViT,
    ``exponent_step=0.5`` the log-sqrt(2) quantizer of RepQ-ViT (twice as
    many levels per octave; an integer kernel shifts by ``c // 2`` and
    multiplies odd codes by a fixed ``sqrt(2)`` constant). The exponent is
    rounded in the log domain with a straight-through gradient.

    Args:
        x (Tensor): Non-negative input (e.g. attention probabilities).
        scale (Tensor): Largest level (scalar).
        bits (int): Bit-width.
        exponent_step (float): Exponent step between levels, in octaves.

    Returns:
        Tensor: Fake-quantized ``x``.
    """
    largest_code = 2**bits - 2
    scale = scale.to(x.dtype)
    if not _wants_grad(x, scale):
        return _log_kernel(x, scale, largest_code, exponent_step, False)[0]
    if not scale.requires_grad:
        return straight_through(_log_kernel, x, scale, largest_code,
                                exponent_step, True)
    ratio = torch.clamp(x / scale, min=torch.finfo(x.dtype).tiny)
    code = _clamp_keeping_ends(round_ste(-torch.log2(ratio) / exponent_step),
                               0.0, float('inf'))
    dequantized = scale * torch.exp2(-code * exponent_step)
    # Beyond the smallest level, the nearest representable value is 0.
    return torch.where(code > largest_code, torch.zeros_like(dequantized),
                       dequantized)


def _log_kernel(x: torch.Tensor, scale: torch.Tensor, largest_code: int,
                exponent_step: float, gradient_factor: bool):
    """Values of :func:`log_fake_quantize`, in place after the first pass,
    and, if ``gradient_factor``, the factor of its straight-through
    gradient (else None): ``dequantized / x`` (the derivative of ``scale *
    2^(-step * round(-log2(x / scale) / step))`` with the rounding passed
    through), 0 where the code was clipped (above the largest level, beyond
    the smallest, or ``x / scale`` below the smallest float)."""
    tiny = torch.finfo(x.dtype).tiny
    ratio = torch.div(x, scale)
    passes = ratio >= tiny if gradient_factor else None
    code = ratio.clamp_(min=tiny).log2_().mul_(-1.0 / exponent_step).round_()
    if gradient_factor:
        passes &= code >= 0
    beyond = code > largest_code
    values = code.clamp_(min=0.0).mul_(-exponent_step).exp2_().mul_(
        scale).masked_fill_(beyond, 0.0)
    if not gradient_factor:
        return values, None
    return values, values.div(x.clamp(min=tiny)).mul_(passes)


def twin_uniform_fake_quantize(x: torch.Tensor, large_scale: torch.Tensor,
                               small_scale: torch.Tensor, bits: int,
                               signed: bool) -> torch.Tensor:
    """Twin-uniform quantize-dequantize (PTQ4ViT).

    One bit of the code picks one of two uniform ranges, the other
    ``bits - 1`` bits are the magnitude, ``0 .. 2^(b-1) - 1``.
    Non-negative inputs (softmax, ``signed=False``): values the small range
    ``[0, (2^(b-1) - 1) * small_scale]`` holds use the fine step
    ``small_scale``, the rest the coarse ``large_scale``. Signed inputs
    (post-GELU, ``signed=True``): negative values use ``small_scale``,
    non-negative ones ``large_scale``. Rounding has a straight-through
    gradient.

    Args:
        x (Tensor): Input.
        large_scale (Tensor): Step of the coarse range (scalar).
        small_scale (Tensor): Step of the fine range (scalar).
        bits (int): Bit-width, the region bit included.
        signed (bool): Whether the fine range holds the negative values.

    Returns:
        Tensor: Fake-quantized ``x``.
    """
    largest_code = 2**(bits - 1) - 1
    large_scale = large_scale.to(x.dtype)
    small_scale = small_scale.to(x.dtype)
    if _wants_grad(x, large_scale, small_scale) and (
            large_scale.requires_grad or small_scale.requires_grad):
        return _twin_uniform_reference(x, large_scale, small_scale,
                                       largest_code, signed)
    if _wants_grad(x):
        return straight_through(_twin_uniform_kernel, x, large_scale,
                                small_scale, largest_code, signed, True)
    return _twin_uniform_kernel(x, large_scale, small_scale, largest_code,
                                signed, False)[0]


def _twin_uniform_kernel(x: torch.Tensor, large_scale: torch.Tensor,
                         small_scale: torch.Tensor, largest_code: int,
                         signed: bool, gradient_mask: bool):
    """Values of :func:`twin_uniform_fake_quantize`, in place after each
    range's first pass, and, if ``gradient_mask``, the mask of the values
    whose range did not clip them (else None)."""
    coarse_codes = torch.div(x, large_scale).round_()
    coarse_passes = (coarse_codes <= largest_code) if gradient_mask else None
    coarse = coarse_codes.clamp_(0, largest_code).mul_(large_scale)
    fine_codes = torch.div(x, small_scale).round_()
    if signed:
        # Negative values take the fine range, the rest the coarse one; a
        # value is clipped only below the fine or above the coarse range.
        mask = ((fine_codes >= -largest_code) & coarse_passes
                if gradient_mask else None)
        # Each range is exactly 0 where the other one holds x, so a sum
        # selects without a mask (masked selection is the slow pass).
        return fine_codes.clamp_(-largest_code, 0).mul_(small_scale).add_(
            coarse), mask
    in_fine_range = x <= small_scale * (largest_code + 0.5)
    mask = (torch.where(in_fine_range, (fine_codes >= 0) &
                        (fine_codes <= largest_code), coarse_passes)
            if gradient_mask else None)
    fine = fine_codes.clamp_(0, largest_code).mul_(small_scale)
    return torch.where(in_fine_range, fine, coarse), mask


def _twin_uniform_reference(x: torch.Tensor, large_scale: torch.Tensor,
                            small_scale: torch.Tensor, largest_code: int,
                            signed: bool) -> torch.Tensor:
    """Plain-PyTorch twin-uniform fake quantization; differentiable in the
    scales."""
    coarse = _clamp_keeping_ends(round_ste(x / large_scale), 0,
                                 largest_code) * large_scale
    if signed:
        fine = _clamp_keeping_ends(round_ste(x / small_scale), -largest_code,
                                   0) * small_scale
        return torch.where(x < 0, fine, coarse)
    fine = _clamp_keeping_ends(round_ste(x / small_scale), 0,
                               largest_code) * small_scale
    in_fine_range = x <= small_scale * (largest_code + 0.5)
    return torch.where(in_fine_range, fine, coarse)
