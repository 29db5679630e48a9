"""The one-call entry point, usable without any mmengine Runner."""
from typing import Callable, Optional, Union

import torch
from torch import nn

from .recipe import QuantRecipe
from .tensor_quantizer import set_quant_mode


def quantize(model: nn.Module,
             recipe: Union[QuantRecipe, dict, None] = None,
             forward_loop: Optional[Callable[[nn.Module], None]] = None,
             adapter=None) -> nn.Module:
    """Quantize ``model`` in place and calibrate it.

    Example::

        model = timm.create_model('deit_tiny_patch16_224').eval()
        quantize(model, dict(weight_bits=4, act_bits=8),
                 lambda m: [m(x) for x in calibration_batches])

    Args:
        model (nn.Module): A model some adapter in ``clamp_mm.models``
            understands (timm ViT/Swin, mmpretrain classifier, mmdet
            detector, mmseg segmentor, or their backbones).
        recipe (QuantRecipe | dict, optional): What to quantize and how.
            Defaults to ``QuantRecipe()``.
        forward_loop (Callable[[nn.Module], None], optional): Runs the
            calibration data through the model it is given (return value
            ignored); called once, under ``torch.no_grad()``, with every
            quantizer in calibrate mode. Defaults to None: the model is only
            swapped and its quantizers stay ``'off'``.
        adapter (clamp_mm.models.ModelAdapter, optional): Adapter to use.
            Defaults to the one :func:`clamp_mm.models.find_adapter` picks.

    Returns:
        nn.Module: ``model``, quantized, in ``'quantize'`` mode when a
        forward loop was given.
    """
    # Imported here: clamp_mm.models builds on clamp_mm.quant, not the
    # other way round.
    from clamp_mm.models import find_adapter
    recipe = QuantRecipe() if recipe is None else QuantRecipe.from_dict(recipe)
    if adapter is None:
        adapter = find_adapter(model)
    adapter.quantize(recipe)
    if forward_loop is None:
        return set_quant_mode(model, 'off')
    set_quant_mode(model, 'calibrate')
    with torch.no_grad():
        forward_loop(model)
    return set_quant_mode(model, 'quantize')
