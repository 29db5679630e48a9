"""Looking at calibration images: back to pixels, and how often the FP model
disagrees with the labels they were made for."""
from typing import Optional, Sequence

import torch

from clamp_mm.models.base import ModelAdapter
from .base_generator import frozen


def denormalise(images: torch.Tensor, mean: Sequence[float],
                std: Sequence[float]) -> torch.Tensor:
    """Undo a per-channel normalisation: (N, 3, H, W) normalised images to
    (N, H, W, 3) float32 pixels in [0, 1] on the CPU, for display.

    Args:
        images (Tensor): Normalised images, ``(pixel - mean) / std`` on the
            0..255 scale.
        mean (Sequence[float]): Per-channel mean (0..255 scale).
        std (Sequence[float]): Per-channel std.

    Returns:
        Tensor: Pixels (N, H, W, 3) in [0, 1].
    """
    mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    pixels = images.detach().cpu().float() * std + mean
    return (pixels.clamp(0, 255) / 255).permute(0, 2, 3, 1)


@torch.no_grad()
def misprediction_rate(adapter: ModelAdapter, images: torch.Tensor,
                       targets: Optional[torch.Tensor]) -> Optional[float]:
    """Fraction (0..1) of ``images`` whose FP prediction is not its target.

    Args:
        adapter (ModelAdapter): Adapter of the float classifier.
        images (Tensor): Normalised images (N, 3, H, W).
        targets (Tensor, optional): The label each image was made for
            (a generator's random labels, real labels), or None.

    Returns:
        float | None: The fraction; None without targets or without a
        classification head.
    """
    if targets is None or not adapter.has_head:
        return None
    with frozen(adapter.model):
        predicted = adapter.forward_images(images).argmax(-1)
    return float((predicted != targets.to(predicted.device)).float().mean())
