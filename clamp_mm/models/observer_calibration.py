"""Observer calibration: the one place quantizers are swapped in and their
ranges measured on a set of images."""
from typing import Optional

import torch
from torch import nn

from clamp_mm.quant import QuantRecipe, quantize
from .base import ModelAdapter, find_adapter


def calibrate_observers(model: nn.Module,
                        recipe=None,
                        images: Optional[torch.Tensor] = None,
                        batch_size: Optional[int] = None,
                        adapter: Optional[ModelAdapter] = None) -> nn.Module:
    """Quantize ``model`` in place and calibrate its observers on ``images``.

    Args:
        model (nn.Module): A float model some adapter understands.
        recipe (QuantRecipe | dict, optional): What to quantize and how.
            Defaults to None (``QuantRecipe()``).
        images (Tensor, optional): Normalised images (N, 3, H, W), run
            through the adapter's ``forward_images``. Defaults to None: the
            model is only swapped, its quantizers stay ``'off'``.
        batch_size (int, optional): Images per forward. Defaults to None:
            all of them in one forward.
        adapter (ModelAdapter, optional): The adapter of ``model``.
            Defaults to None (:func:`find_adapter`).

    Returns:
        nn.Module: ``model``, quantized and, with images, calibrated (in
        ``'quantize'`` mode).
    """
    if adapter is None:
        adapter = find_adapter(model)
    recipe = QuantRecipe() if recipe is None else QuantRecipe.from_dict(recipe)
    if images is None:
        return quantize(model, recipe, None, adapter)
    if batch_size is not None and batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size!r}')
    batches = images.split(batch_size) if batch_size else (images, )

    def forward_loop(_):
        for batch in batches:
            adapter.forward_images(batch)

    return quantize(model, recipe, forward_loop, adapter)
