"""RepQ-ViT's post-LayerNorm reparameterization: the folding arithmetic.

A LayerNorm's output ``y = gamma * n + beta`` that is quantized per channel
with steps ``s`` and zero points ``z`` can be quantized per tensor with
``(s_t, z_t)`` instead, with the same integer codes, once the channel
factors are moved into the LayerNorm's affine and the next Linear's weight:
with ``r1 = s / s_t`` and ``r2 = z - z_t``, the LayerNorm computes
``y' = (y + s * r2) / r1`` and the Linear ``W' = W * r1`` (per input
channel), ``b' = b - W (s * r2)``. In float, ``W' y' + b' = W y + b``
exactly; quantized, ``round(y' / s_t) + z_t = round(y / s) + z``.
"""
from typing import Sequence, Tuple

import torch
from torch import nn


def per_tensor_target(channel_scale: torch.Tensor,
                      channel_zero_point: torch.Tensor
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """RepQ-ViT's per-tensor step and zero point: the channel means.

    Args:
        channel_scale (Tensor): Per-channel steps (C,).
        channel_zero_point (Tensor): Per-channel zero points (C,).

    Returns:
        tuple[Tensor, Tensor]: Scalar step (mean) and zero point (rounded
        mean, so that ``r2`` stays an integer and codes are unchanged).
    """
    return channel_scale.mean(), channel_zero_point.mean().round()


def fold_channel_quantization(norm: nn.Module, linears: Sequence[nn.Module],
                              channel_scale: torch.Tensor,
                              channel_zero_point: torch.Tensor,
                              target_scale: torch.Tensor,
                              target_zero_point: torch.Tensor) -> None:
    """Fold per-channel quantization factors into a LayerNorm and the
    Linears it feeds, in place (see the module docstring).

    Args:
        norm (nn.Module): A LayerNorm with affine ``weight`` and ``bias``.
        linears (Sequence[nn.Module]): Every Linear that reads ``norm``'s
            output (weights ``(out, C)``); one without a bias gets one.
        channel_scale (Tensor): Per-channel steps ``s`` (C,).
        channel_zero_point (Tensor): Per-channel zero points ``z`` (C,).
        target_scale (Tensor): Per-tensor step ``s_t`` (scalar).
        target_zero_point (Tensor): Per-tensor zero point ``z_t`` (scalar).

    Raises:
        ValueError: When ``norm`` has no affine weight and bias, or a
            Linear's input width differs from the channel count.
    """
    if getattr(norm, 'weight', None) is None or getattr(norm, 'bias',
                                                        None) is None:
        raise ValueError(f'{type(norm).__name__} has no affine weight and '
                         'bias to fold channel factors into; expected a '
                         'LayerNorm with elementwise_affine=True')
    channels = norm.weight.shape[-1]
    for linear in linears:
        if linear.weight.shape[1] != channels:
            raise ValueError(f'a Linear with {linear.weight.shape[1]} inputs '
                             f'cannot follow a LayerNorm of {channels} '
                             'channels')
    dtype = norm.weight.dtype
    ratio = (channel_scale / target_scale).to(dtype)
    shift = (channel_scale *
             (channel_zero_point - target_zero_point)).to(dtype)
    with torch.no_grad():
        norm.weight.div_(ratio)
        norm.bias.add_(shift).div_(ratio)
        for linear in linears:
            if linear.bias is None:
                linear.bias = nn.Parameter(
                    linear.weight.new_zeros(linear.weight.shape[0]))
            linear.bias.sub_(linear.weight @ shift)
            linear.weight.mul_(ratio)
