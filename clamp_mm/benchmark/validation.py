"""The validation split the search's defaults are chosen on.

Fashion-MNIST's ``split='val'`` (training images 55000..59999, labelled;
defined once, in :mod:`clamp_mm.datasets.fashion_mnist`), held out from the
test split, which only scores finished models. The ViT, DeiT and Swin were
trained on all 60,000 training images, so their accuracies here are
optimistic; rankings of quantization candidates are still meaningful.
"""
from typing import Tuple

import torch


def load_validation_images(adapter, num_images: int = 5000
                           ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Normalised validation images and labels for a classifier.

    Args:
        adapter (ModelAdapter): The classifier's adapter (input size, mean
            and std).
        num_images (int): The first ``num_images`` of the split, 1..5000.
            Defaults to 5000.

    Returns:
        tuple[Tensor, Tensor]: float32 (N, 3, S, S) images and int64 labels.
    """
    from clamp_mm.datasets.fashion_mnist import (NUM_VAL_IMAGES,
                                                 read_fashion_mnist,
                                                 resize_images)
    if not 0 < num_images <= NUM_VAL_IMAGES:
        raise ValueError(f'num_images={num_images} is out of range, expected '
                         f'1..{NUM_VAL_IMAGES} for the validation split')
    images, labels = read_fashion_mnist('val')
    images = images[:num_images]
    labels = torch.from_numpy(labels[:num_images])
    grey = torch.from_numpy(resize_images(images,
                                          adapter.input_size[0])).float()
    mean, std = adapter.mean_std
    mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    rgb = grey[:, None].expand(-1, 3, -1, -1)
    return ((rgb - mean) / std).contiguous(), labels


@torch.no_grad()
def correct(adapter, images: torch.Tensor, labels: torch.Tensor,
            batch_size: int = 1000) -> torch.Tensor:
    """Per image, whether the adapter's model classifies it right.

    Args:
        adapter (ModelAdapter): Runs the model.
        images (Tensor): Normalised images.
        labels (Tensor): Their labels.
        batch_size (int): Images per forward. Defaults to 1000.

    Returns:
        Tensor: bool (N,).
    """
    predictions = torch.cat([
        adapter.forward_images(images[start:start + batch_size]).argmax(-1)
        for start in range(0, len(images), batch_size)
    ])
    return predictions == labels


def top1(adapter, images: torch.Tensor, labels: torch.Tensor,
         batch_size: int = 1000) -> float:
    """Top-1 (%) of the adapter's model on a labelled batch (arguments as
    for :func:`correct`)."""
    hits = correct(adapter, images, labels, batch_size)
    return 100.0 * float(hits.float().mean())
