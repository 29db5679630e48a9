"""One refresh of the calibration images (cyclic adaptation), shared by the
evolutionary search and the block reconstruction."""
from typing import Callable

import torch
from torch import nn


def refresh_images(refresh_fn: Callable, images: torch.Tensor,
                   fp_model: nn.Module, quantized_model: nn.Module,
                   iterations: int) -> torch.Tensor:
    """Run ``refresh_fn`` on ``images`` (gradients on) and check the result.

    Both models are put back in eval mode afterwards (a generator may
    switch them).

    Args:
        refresh_fn (Callable): ``fn(images, fp_model, quantized_model,
            iterations)`` returning the new images.
        images (Tensor): Current images (N, 3, H, W).
        fp_model (nn.Module): The float model.
        quantized_model (nn.Module): The quantized model.
        iterations (int): Refresh iterations.

    Returns:
        Tensor: The refreshed images, detached.

    Raises:
        ValueError: When ``refresh_fn`` returns another shape.
    """
    with torch.enable_grad():
        refreshed = refresh_fn(images, fp_model, quantized_model, iterations)
    if refreshed.shape != images.shape:
        raise ValueError(f'refresh_fn returned images of shape '
                         f'{tuple(refreshed.shape)}, expected '
                         f'{tuple(images.shape)}')
    quantized_model.eval()
    fp_model.eval()
    return refreshed.detach()
