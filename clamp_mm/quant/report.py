"""What was quantized, and what it costs: summary, model size and BOPs."""
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import torch
from torch import nn

from .attention import QuantAttentionMixin
from .tensor_quantizer import TensorQuantizer, iter_quantizers

#: Bit-width counted for anything left in floating point.
FLOAT_BITS = 32


def quant_summary(model: nn.Module) -> str:
    """A printable table of every quantizer in ``model``.

    Columns: quantizer name, quant point, bits, kind (uniform, log2,
    log_sqrt2, twin_uniform), granularity, observer, mode, whether it holds
    a calibrated range, and ``kernel``: what an integer back end runs
    (``uniform-per-tensor`` / ``uniform-per-channel``: integer kernels;
    ``log2``, ``log-sqrt2``, ``twin-uniform``: not integer-mappable, marked
    ``*``). The last line counts the integer-mappable quantizers.

    Args:
        model (nn.Module): A swapped model.

    Returns:
        str: The table, one quantizer per line, and a count per bit-width.
    """
    rows = [('quantizer', 'point', 'bits', 'kind', 'granularity', 'observer',
             'mode', 'calibrated', 'kernel')]
    bit_counts = {}
    mappable = 0
    for name, quantizer in iter_quantizers(model):
        granularity = ('tensor' if quantizer.channel_axis is None else
                       f'channel({quantizer.scale.numel()})')
        factors = getattr(quantizer, 'factor_exponent', None)
        if factors is not None:
            granularity = f'tensor*2^k({factors.numel()})'
        rows.append(
            (name, quantizer.point, str(quantizer.bits), quantizer.kind,
             granularity, type(quantizer.observer).__name__, quantizer.mode,
             'yes' if quantizer.is_calibrated else 'no',
             quantizer.kernel_kind +
             ('' if quantizer.integer_mappable else ' *')))
        mappable += quantizer.integer_mappable
        key = f'{"W" if quantizer.point == "weight" else "A"}{quantizer.bits}'
        bit_counts[key] = bit_counts.get(key, 0) + 1
    widths = [
        max(len(row[column]) for row in rows) for column in range(len(rows[0]))
    ]
    lines = [
        '  '.join(cell.ljust(width) for cell, width in zip(row, widths))
        for row in rows
    ]
    lines.insert(1, '  '.join('-' * width for width in widths))
    lines.append(f'{len(rows) - 1} quantizers: ' +
                 ', '.join(f'{key} x{count}'
                           for key, count in sorted(bit_counts.items())))
    lines.append(f'{mappable} of {len(rows) - 1} map to integer kernels '
                 '(uniform, per tensor or per channel); * marks the others')
    return '\n'.join(lines)


def _bits(quantizer: Optional[nn.Module]) -> int:
    return quantizer.bits if isinstance(quantizer,
                                        TensorQuantizer) else FLOAT_BITS


@dataclass
class LayerCost:
    """Cost of one layer or one attention matmul.

    Args:
        name (str): Module name (``<attention>.qk`` / ``<attention>.av``
            for the two attention matmuls).
        macs (int): Multiply-accumulates on the given input.
        weight_bits (int): Bits of the weight (first operand).
        act_bits (int): Bits of the activation (second operand).
    """
    name: str
    macs: int
    weight_bits: int
    act_bits: int

    @property
    def bops(self) -> int:
        """``macs * weight_bits * act_bits``."""
        return self.macs * self.weight_bits * self.act_bits


@dataclass
class ModelCost:
    """Size and BOPs of a (quantized) model.

    Args:
        size_bits (int): Sum over parameters of numel x bits (weights of
            quantized layers at their bit-width, everything else at 32).
        float_size_bits (int): The same with every parameter at 32 bits.
        layers (list[LayerCost]): MACs and bits per layer and matmul.
    """
    size_bits: int
    float_size_bits: int
    layers: List[LayerCost] = field(default_factory=list)

    @property
    def size_mb(self) -> float:
        """Model size in MB (2^20 bytes)."""
        return self.size_bits / 8 / 2**20

    @property
    def float_size_mb(self) -> float:
        """Size of the float model in MB (2^20 bytes)."""
        return self.float_size_bits / 8 / 2**20

    @property
    def macs(self) -> int:
        """Total MACs of the counted layers."""
        return sum(layer.macs for layer in self.layers)

    @property
    def bops(self) -> int:
        """Sum over layers of MACs x weight bits x activation bits."""
        return sum(layer.bops for layer in self.layers)

    @property
    def float_bops(self) -> int:
        """BOPs with every operand at 32 bits."""
        return self.macs * FLOAT_BITS * FLOAT_BITS

    def __str__(self) -> str:
        return (f'size {self.size_mb:.3f} MB (float {self.float_size_mb:.3f}'
                f' MB), MACs {self.macs / 1e6:.3f} M, BOPs '
                f'{self.bops / 1e9:.3f} G (float {self.float_bops / 1e9:.3f}'
                f' G)')


def model_size_bits(model: nn.Module) -> int:
    """Sum over parameters of numel x bits.

    The weight of a quantized Linear/Conv2d counts at its weight
    quantizer's bit-width; every other parameter (biases, norms, position
    embeddings, float layers) at 32 bits. Scales and zero points are not
    counted.
    """
    weight_bits = {}
    for module in model.modules():
        quantizer = getattr(module, 'weight_quantizer', None)
        weight = getattr(module, 'weight', None)
        if isinstance(quantizer, TensorQuantizer) and isinstance(
                weight, nn.Parameter):
            weight_bits[id(weight)] = quantizer.bits
    return sum(parameter.numel() * weight_bits.get(id(parameter), FLOAT_BITS)
               for parameter in model.parameters())


def _input_bits(name: str, module: nn.Module, modules: dict) -> int:
    quantizer = getattr(module, 'input_quantizer', None)
    if isinstance(quantizer, TensorQuantizer):
        return quantizer.bits
    # An attention projection's input is quantized by the attention's
    # output quantizer instead of its own.
    parent = modules.get(name.rpartition('.')[0])
    if isinstance(parent, QuantAttentionMixin):
        return _bits(parent.output_quantizer)
    return FLOAT_BITS


def model_cost(
    model: nn.Module,
    inputs: torch.Tensor,
    forward: Optional[Callable[[nn.Module, torch.Tensor], object]] = None
) -> ModelCost:
    """Model size, and MACs/BOPs counted on one forward pass.

    MACs of every ``nn.Linear`` and ``nn.Conv2d`` (float or quantized) are
    counted with forward hooks, and those of the two matmuls of each
    quantized attention (q k^T at q x k bits, probabilities x v at
    softmax x v bits). Float operands count as 32 bits.

    Args:
        model (nn.Module): The model, in the mode to be measured.
        inputs (Tensor): One input batch (use batch size 1 for per-image
            figures).
        forward (Callable, optional): ``forward(model, inputs)``; defaults to
            ``model(inputs)``.

    Returns:
        ModelCost: Size and per-layer costs.
    """
    modules = dict(model.named_modules())
    layers: List[LayerCost] = []

    def hook(name):

        def count(module, args, output):
            if isinstance(module, QuantAttentionMixin):
                qk_macs, av_macs = module.last_matmul_macs
                layers.append(
                    LayerCost(f'{name}.qk', qk_macs, _bits(module.q_quantizer),
                              _bits(module.k_quantizer)))
                layers.append(
                    LayerCost(f'{name}.av', av_macs,
                              _bits(module.softmax_quantizer),
                              _bits(module.v_quantizer)))
                return
            out = output[0] if isinstance(output, tuple) else output
            if isinstance(module, nn.Linear):
                macs = out.numel() * module.in_features
            else:
                kernel = module.weight[0].numel()  # in/groups x kh x kw
                macs = out.numel() * kernel
            layers.append(
                LayerCost(name, macs,
                          _bits(getattr(module, 'weight_quantizer', None)),
                          _input_bits(name, module, modules)))

        return count

    handles = [
        module.register_forward_hook(hook(name))
        for name, module in modules.items()
        if isinstance(module, (nn.Linear, nn.Conv2d, QuantAttentionMixin))
    ]
    try:
        with torch.no_grad():
            if forward is None:
                model(inputs)
            else:
                forward(model, inputs)
    finally:
        for handle in handles:
            handle.remove()
    float_size = sum(p.numel() for p in model.parameters()) * FLOAT_BITS
    return ModelCost(model_size_bits(model), float_size, layers)
