"""The core quantize call: swap in quantizers through a quant plan, calibrate.

Pure PyTorch: the "quant plan" is any object with a ``quantize(recipe)``
method that swaps the quantized modules into its model (a
:class:`clamp_mm.models.ModelAdapter` is one). Which plan fits a model is not
decided here: layers above register a finder with
:func:`register_adapter_finder` (``clamp_mm.models`` registers
:func:`clamp_mm.models.find_adapter` when it is imported), so this package
imports nothing from them. The adapter-aware call for users is
:func:`clamp_mm.quantize`.
"""
from typing import Callable, Optional, Union

import torch
from torch import nn

from .recipe import QuantRecipe
from .tensor_quantizer import set_quant_mode

#: ``finder(model) -> quant plan``, registered by the layer that knows the
#: model families (``clamp_mm.models``); None until one is registered.
_adapter_finder: Optional[Callable[[nn.Module], object]] = None


def register_adapter_finder(finder: Callable[[nn.Module], object]) -> None:
    """Set the function :func:`quantize` asks for a quant plan when it is
    given none.

    Args:
        finder (Callable[[nn.Module], object]): Returns an object with a
            ``quantize(recipe)`` method for a model, or raises TypeError
            naming the model class when it knows none.
    """
    global _adapter_finder
    _adapter_finder = finder


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
        model (nn.Module): The model (timm ViT/Swin, mmpretrain classifier,
            mmdet detector, mmseg segmentor, or their backbones).
        recipe (QuantRecipe | dict, optional): What to quantize and how.
            Defaults to ``QuantRecipe()``.
        forward_loop (Callable[[nn.Module], None], optional): Runs the
            calibration data through the model it is given (return value
            ignored); called once, under ``torch.no_grad()``, with every
            quantizer in calibrate mode. Defaults to None: the model is only
            swapped and its quantizers stay ``'off'``.
        adapter (object, optional): The quant plan of ``model``: an object
            whose ``quantize(recipe)`` swaps in the quantized modules (a
            ``clamp_mm.models.ModelAdapter``). Defaults to None: the one the
            registered finder picks (``clamp_mm.models.find_adapter``).

    Returns:
        nn.Module: ``model``, quantized, in ``'quantize'`` mode when a
        forward loop was given.
    """
    recipe = QuantRecipe() if recipe is None else QuantRecipe.from_dict(recipe)
    if adapter is None:
        if _adapter_finder is None:
            raise TypeError(
                'quantize() got no adapter and no adapter finder is '
                'registered: pass adapter=..., or import clamp_mm.models '
                '(or call clamp_mm.quantize, which does)')
        adapter = _adapter_finder(model)
    adapter.quantize(recipe)
    if forward_loop is None:
        return set_quant_mode(model, 'off')
    set_quant_mode(model, 'calibrate')
    with torch.no_grad():
        forward_loop(model)
    return set_quant_mode(model, 'quantize')
