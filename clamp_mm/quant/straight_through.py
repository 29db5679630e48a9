"""One autograd node for a fake quantization whose gradient is a factor.

A straight-through fake quantization written as plain operations records
ten or more element-wise nodes, each keeping its own copy of the tensor
for the backward pass, although its gradient with respect to the input is
just the incoming gradient times a factor: 1 inside the range and 0 where
the value was clipped (uniform and twin-uniform), ``dequantized / x`` for a
logarithmic grid. :func:`straight_through` computes the values and that
factor once without autograd (in place, like inference) and keeps only the
factor; the backward pass is one multiplication. It is for a gradient with
respect to the input only: a learnable scale needs the plain operations.
"""
from typing import Callable, Tuple

import torch

#: ``kernel(x, *args) -> (values, factor)``; ``factor`` broadcasts to
#: ``x`` (a bool mask or a float tensor).
Kernel = Callable[..., Tuple[torch.Tensor, torch.Tensor]]


class _StraightThrough(torch.autograd.Function):
    """``kernel``'s values; the gradient to ``x`` is ``grad * factor``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, kernel: Kernel, *args) -> torch.Tensor:
        values, factor = kernel(x, *args)
        ctx.save_for_backward(factor)
        ctx.num_args = len(args)
        return values

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        factor, = ctx.saved_tensors
        return (grad * factor, None) + (None, ) * ctx.num_args


def straight_through(kernel: Kernel, x: torch.Tensor, *args) -> torch.Tensor:
    """Apply ``kernel`` to ``x`` as one autograd node.

    Args:
        kernel (callable): ``kernel(x, *args)`` returns the fake-quantized
            values and the factor the gradient is multiplied by; it runs
            without autograd and may work in place on tensors it creates.
        x (Tensor): The input; the only argument that receives a gradient.
        *args: Further arguments of ``kernel`` (scales, bit ranges); they
            receive no gradient.

    Returns:
        Tensor: The values, with the gradient ``grad * factor`` to ``x``.
    """
    return _StraightThrough.apply(x, kernel, *args)
