"""Differentiable augmentations applied to the images before each forward.

The model sees a randomly rolled and flipped view of the images, so the
pixels cannot overfit one exact alignment of the patch grid (DeepInversion
and PSAQ-ViT do the same). Both are permutations of the pixels: gradients
flow back to the un-augmented images unchanged.
"""
from typing import Optional

import torch


def random_roll(images: torch.Tensor, max_shift: int,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Cyclically shift the whole batch by a random (dy, dx).

    Args:
        images (Tensor): (B, C, H, W).
        max_shift (int): Largest shift in pixels along each axis; 0 disables.
        generator (torch.Generator, optional): Source of randomness.
            Defaults to None (torch's global one).

    Returns:
        Tensor: The rolled images.
    """
    if max_shift < 0:
        raise ValueError(f'max_shift={max_shift} is invalid, expected >= 0')
    if max_shift == 0:
        return images
    shift_y, shift_x = torch.randint(
        -max_shift, max_shift + 1, (2, ), generator=generator).tolist()
    return torch.roll(images, shifts=(shift_y, shift_x), dims=(2, 3))


def random_horizontal_flip(images: torch.Tensor,
                           probability: float = 0.5,
                           generator: Optional[torch.Generator] = None
                           ) -> torch.Tensor:
    """Mirror the whole batch left-right with the given probability.

    Args:
        images (Tensor): (B, C, H, W).
        probability (float): Chance of flipping. Defaults to 0.5.
        generator (torch.Generator, optional): Source of randomness.
            Defaults to None (torch's global one).

    Returns:
        Tensor: The images, flipped or not.
    """
    if not 0 <= probability <= 1:
        raise ValueError(f'probability={probability} is invalid, expected a '
                         'value in [0, 1]')
    if torch.rand((), generator=generator).item() < probability:
        return images.flip(3)
    return images
