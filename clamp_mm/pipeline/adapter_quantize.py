"""The adapter-aware quantize call for users: finds the model's adapter."""
from typing import Callable, Optional, Union

from torch import nn

from clamp_mm.models.base import ModelAdapter, find_adapter
from clamp_mm.quant import QuantRecipe
from clamp_mm.quant import quantize as quantize_with_plan


def quantize(model: nn.Module,
             recipe: Union[QuantRecipe, dict, None] = None,
             forward_loop: Optional[Callable[[nn.Module], None]] = None,
             adapter: Optional[ModelAdapter] = None) -> nn.Module:
    """Quantize ``model`` in place and calibrate it with ``forward_loop``.

    Example::

        model = timm.create_model('deit_tiny_patch16_224').eval()
        clamp_mm.quantize(model, dict(weight_bits=4, act_bits=8),
                          lambda m: [m(x) for x in calibration_batches])

    Args:
        model (nn.Module): A model some adapter in ``clamp_mm.models``
            understands (timm ViT/Swin, mmpretrain classifier, mmdet
            detector, mmseg segmentor, or their backbones).
        recipe (QuantRecipe | dict, optional): What to quantize and how.
            Defaults to None (``QuantRecipe()``).
        forward_loop (Callable[[nn.Module], None], optional): Runs the
            calibration data through the model (see
            :func:`clamp_mm.quant.quantize`). Defaults to None (swap only).
        adapter (ModelAdapter, optional): Adapter to use. Defaults to None
            (:func:`clamp_mm.models.find_adapter`).

    Returns:
        nn.Module: ``model``, quantized.
    """
    if adapter is None:
        adapter = find_adapter(model)
    return quantize_with_plan(model, recipe, forward_loop, adapter)
