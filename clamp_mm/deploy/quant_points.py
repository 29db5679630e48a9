"""Which quant points an ONNX export writes in integer form, and how."""
from dataclasses import asdict, dataclass
from typing import List

from torch import nn

from clamp_mm.quant import QuantConv2d, QuantLinear, TensorQuantizer
from clamp_mm.quant import iter_quantizers


@dataclass
class QuantPointExport:
    """How one quantizer appears in the exported graph.

    Args:
        name (str): Dotted name of the quantizer in the exported module.
        point (str): Quant point (``'weight'``, ``'softmax'`` ...).
        bits (int): Bit-width.
        kind (str): Quantizer kind (``'uniform'``, ``'log2'`` ...).
        integer (bool): Written as QuantizeLinear/DequantizeLinear that
            integer kernels can consume.
        exported_as (str): What the graph holds for it.
        note (str): What keeps it from integer kernels, if anything.
            Defaults to ``''``.
    """
    name: str
    point: str
    bits: int
    kind: str
    integer: bool
    exported_as: str
    note: str = ''

    def to_dict(self) -> dict:
        """Plain-dict form (stored in the ONNX file's metadata)."""
        return asdict(self)


def _weight_quantizer_ids(model: nn.Module) -> set:
    return {
        id(module.weight_quantizer)
        for module in model.modules()
        if isinstance(module, (QuantLinear, QuantConv2d))
    }


def _is_plain_uniform(quantizer: TensorQuantizer) -> bool:
    # A subclass with its own forward (a new quantizer type) is traced as
    # whatever operations that forward runs.
    return (quantizer.kind == 'uniform'
            and type(quantizer).forward is TensorQuantizer.forward
            and type(quantizer).container_fake_quantize is
            TensorQuantizer.container_fake_quantize)


def describe_quant_points(model: nn.Module) -> List[QuantPointExport]:
    """List every active quantizer of ``model`` with its exported form.

    Uniform quantizers become QuantizeLinear/DequantizeLinear over int8
    (symmetric) or uint8 codes; weights are folded into integer
    initializers (codes of fewer bits in an int8/uint8 container);
    activations of fewer than 8 bits get a float Clip to their range
    first. Any other kind (log2 softmax, twin-uniform, ...) or quantizer
    class with its own forward is traced as the float operations it runs.
    Quantizers in mode ``'off'`` are not listed.

    Args:
        model (nn.Module): The module to be exported.

    Returns:
        list[QuantPointExport]: One entry per quantizer in ``'quantize'``
        mode, in module order.
    """
    weights = _weight_quantizer_ids(model)
    entries = []
    for name, quantizer in iter_quantizers(model):
        if quantizer.mode != 'quantize':
            continue
        is_weight = id(quantizer) in weights
        if not _is_plain_uniform(quantizer):
            entries.append(
                QuantPointExport(
                    name, quantizer.point, quantizer.bits, quantizer.kind,
                    False, f'float operations ({quantizer.kind} '
                    f'{type(quantizer).__name__}: no integer QDQ form)'))
            continue
        container = 'int8' if quantizer.symmetric else 'uint8'
        if is_weight:
            exported_as = (f'{quantizer.bits}-bit codes in a {container} '
                           'initializer + DequantizeLinear')
        elif quantizer.bits < 8:
            exported_as = (f'float Clip to the {quantizer.bits}-bit range + '
                           f'{container} QuantizeLinear/DequantizeLinear')
        else:
            exported_as = f'{container} QuantizeLinear/DequantizeLinear'
        note = ''
        if is_weight and not quantizer.symmetric:
            note = ('asymmetric uint8 weight: onnxruntime\'s CPU integer '
                    'kernels need symmetric int8 weights (recipe '
                    'weight_symmetric=True)')
        entries.append(
            QuantPointExport(name, quantizer.point, quantizer.bits,
                             quantizer.kind, True, exported_as, note))
    return entries
