"""Quantized drop-in replacements of nn.Linear and nn.Conv2d.

They subclass the float modules and keep the parameter names ``weight`` and
``bias`` (the very same Parameter objects are moved over by
:meth:`from_float`), so a float state dict loads before or after the swap.
Quantizers are named children: ``weight_quantizer`` and ``input_quantizer``.
Either may be an ``nn.Identity`` when that point is not quantized here
(e.g. the attention projection, whose input is already quantized by the
attention's ``output_quantizer``).
"""
from typing import Optional

import torch
from torch import nn
import torch.nn.functional as F


def _or_identity(quantizer: Optional[nn.Module]) -> nn.Module:
    return nn.Identity() if quantizer is None else quantizer


def _quantize_weight(module: nn.Module) -> torch.Tensor:
    quantizer = module.weight_quantizer
    if getattr(quantizer, 'exporting', False):
        # Export mode (clamp_mm.quant.export_mode): the weight was quantized
        # once before tracing; the trace sees that constant go through the
        # quantizer (QuantizeLinear/DequantizeLinear), no cache, no branch.
        return quantizer(module.exported_weight)
    mode = getattr(quantizer, 'mode', None)
    if mode == 'calibrate':
        # The weight does not change between calibration batches: observe
        # it once (OMSE would otherwise store a copy per batch).
        if not quantizer.observer.has_data:
            quantizer.observe(module.weight)
        return module.weight
    if mode == 'quantize' and not quantizer.is_calibrated:
        # Weights are always at hand: a weight quantizer that was never
        # calibrated observes the weight itself instead of failing.
        quantizer.observe(module.weight)
        quantizer.compute_qparams()
    if mode != 'quantize' or (torch.is_grad_enabled()
                              and module.weight.requires_grad):
        return quantizer(module.weight)
    # Inference: reuse the fake-quantized weight until the weight, the scale,
    # the zero point or the bit-width change (in-place edits bump versions).
    offset = getattr(quantizer, 'rounding_offset', None)
    key = (module.weight._version, quantizer.scale._version,
           quantizer.zero_point._version, quantizer.bits,
           module.weight.data_ptr(), quantizer.scale.data_ptr(),
           None if offset is None else (offset.data_ptr(), offset._version))
    cached = module.__dict__.get('_quantized_weight_cache')
    if cached is None or cached[0] != key:
        cached = (key, quantizer(module.weight).detach())
        module.__dict__['_quantized_weight_cache'] = cached
    return cached[1]


class QuantLinear(nn.Linear):
    """``nn.Linear`` with fake-quantized weight and input.

    Args:
        in_features (int): See ``nn.Linear``.
        out_features (int): See ``nn.Linear``.
        bias (bool): See ``nn.Linear``. Defaults to True.
        weight_quantizer (nn.Module, optional): Quantizer of the weight.
            Defaults to ``nn.Identity()``.
        input_quantizer (nn.Module, optional): Quantizer of the input.
            Defaults to ``nn.Identity()``.
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 bias: bool = True,
                 weight_quantizer: Optional[nn.Module] = None,
                 input_quantizer: Optional[nn.Module] = None,
                 device=None,
                 dtype=None) -> None:
        super().__init__(in_features, out_features, bias, device, dtype)
        self.weight_quantizer = _or_identity(weight_quantizer)
        self.input_quantizer = _or_identity(input_quantizer)

    @classmethod
    def from_float(
            cls,
            linear: nn.Linear,
            weight_quantizer: Optional[nn.Module] = None,
            input_quantizer: Optional[nn.Module] = None) -> 'QuantLinear':
        """Wrap ``linear``'s own parameters (shared, not copied)."""
        quant = cls(linear.in_features,
                    linear.out_features,
                    linear.bias is not None,
                    weight_quantizer,
                    input_quantizer,
                    device='meta')
        quant.weight = linear.weight
        quant.bias = linear.bias
        quant.train(linear.training)
        quant.to(device=linear.weight.device)
        return quant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.input_quantizer(x), _quantize_weight(self),
                        self.bias)


class QuantConv2d(nn.Conv2d):
    """``nn.Conv2d`` with fake-quantized weight and input.

    Args:
        *args: See ``nn.Conv2d``.
        weight_quantizer (nn.Module, optional): Quantizer of the weight.
            Defaults to ``nn.Identity()``.
        input_quantizer (nn.Module, optional): Quantizer of the input.
            Defaults to ``nn.Identity()``.
        **kwargs: See ``nn.Conv2d``.
    """

    def __init__(self,
                 *args,
                 weight_quantizer: Optional[nn.Module] = None,
                 input_quantizer: Optional[nn.Module] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.weight_quantizer = _or_identity(weight_quantizer)
        self.input_quantizer = _or_identity(input_quantizer)

    @classmethod
    def from_float(
            cls,
            conv: nn.Conv2d,
            weight_quantizer: Optional[nn.Module] = None,
            input_quantizer: Optional[nn.Module] = None) -> 'QuantConv2d':
        """Wrap ``conv``'s own parameters (shared, not copied)."""
        quant = cls(conv.in_channels,
                    conv.out_channels,
                    conv.kernel_size,
                    stride=conv.stride,
                    padding=conv.padding,
                    dilation=conv.dilation,
                    groups=conv.groups,
                    bias=conv.bias is not None,
                    padding_mode=conv.padding_mode,
                    weight_quantizer=weight_quantizer,
                    input_quantizer=input_quantizer,
                    device='meta')
        quant.weight = conv.weight
        quant.bias = conv.bias
        quant.train(conv.training)
        quant.to(device=conv.weight.device)
        return quant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.input_quantizer(x),
                                  _quantize_weight(self), self.bias)
