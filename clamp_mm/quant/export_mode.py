"""Export mode: a quantized model that ``torch.export`` can trace.

In eager use a quantizer checks on every call that it was calibrated (a
branch on buffer values) and a quantized layer caches its fake-quantized
weight under keys made of tensor versions and data pointers. Neither can be
traced. :func:`export_mode` makes the checks once, up front, quantizes
every weight once, and switches the quantizers to their traceable form
(:attr:`TensorQuantizer.exporting`) for the duration of a ``with`` block.
"""
from contextlib import contextmanager
from typing import Iterator, List

import torch
from torch import nn

from .modules import QuantConv2d, QuantLinear, _quantize_weight
from .tensor_quantizer import TensorQuantizer, iter_quantizers

#: Name of the non-persistent buffer holding a layer's quantized weight
#: while exporting (read by ``clamp_mm.quant.modules._quantize_weight``).
EXPORTED_WEIGHT = 'exported_weight'


def uncalibrated_quantizers(model: nn.Module) -> List[str]:
    """Names of the quantizers in ``'quantize'`` mode that hold no range.

    Weight quantizers are not listed: a weight is always at hand, so an
    uncalibrated weight quantizer observes its weight (as in eager use).

    Args:
        model (nn.Module): The model.

    Returns:
        list[str]: Dotted names, in module order.
    """
    weight_quantizers = {
        id(module.weight_quantizer)
        for module in model.modules()
        if isinstance(module, (QuantLinear, QuantConv2d))
    }
    return [
        name for name, quantizer in iter_quantizers(model)
        if quantizer.mode == 'quantize' and not quantizer.is_calibrated
        and id(quantizer) not in weight_quantizers
    ]


def check_exportable(model: nn.Module) -> None:
    """Raise when ``model`` holds a quantizer that cannot be traced as is.

    Raises:
        ValueError: When a quantizer is in ``'calibrate'`` mode, or in
            ``'quantize'`` mode without a calibrated range; the one-line
            message names it (and how many others there are).
    """
    calibrating = [
        name for name, quantizer in iter_quantizers(model)
        if quantizer.mode == 'calibrate'
    ]
    for names, problem in ((calibrating, 'is still in calibrate mode'),
                           (uncalibrated_quantizers(model),
                            'is in quantize mode but was never calibrated')):
        if names:
            others = (f' (and {len(names) - 1} other quantizers)'
                      if len(names) > 1 else '')
            raise ValueError(
                f'quantizer {names[0]} {problem}{others}: calibrate the model '
                "(clamp_mm.quant.quantize with a forward loop) or set its "
                "mode to 'off' before exporting")


@contextmanager
def export_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Make ``model`` traceable by ``torch.export`` inside the block.

    Checks the quantizers (:func:`check_exportable`), quantizes the weight
    of every quantized layer once into a non-persistent buffer, and sets
    ``exporting`` on every quantizer; everything is undone on exit, even
    after an error. The traced values equal the eager ``'quantize'``
    forward's.

    Example::

        with export_mode(model):
            torch.onnx.export(model, (images, ), 'model.onnx')

    Args:
        model (nn.Module): A quantized model (quantizers ``'quantize'`` or
            ``'off'``).

    Yields:
        nn.Module: ``model``.
    """
    check_exportable(model)
    layers = [
        module for module in model.modules()
        if isinstance(module, (QuantLinear, QuantConv2d))
        and isinstance(module.weight_quantizer, TensorQuantizer)
        and module.weight_quantizer.mode == 'quantize'
    ]
    with torch.no_grad():
        for layer in layers:
            # The eager path: calibrates a weight quantizer that never saw
            # its weight, and returns the fake-quantized weight.
            weight = _quantize_weight(layer).detach().clone()
            layer.register_buffer(EXPORTED_WEIGHT, weight, persistent=False)
    quantizers = [
        quantizer for _, quantizer in iter_quantizers(model)
        if quantizer.mode == 'quantize'
    ]
    try:
        for quantizer in quantizers:
            quantizer.exporting = True
        yield model
    finally:
        for quantizer in quantizers:
            quantizer.exporting = False
        for layer in layers:
            if EXPORTED_WEIGHT in layer._buffers:
                del layer._buffers[EXPORTED_WEIGHT]
