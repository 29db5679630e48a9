"""Per-layer sensitivity: quantize one layer at a time, measure the damage.

The quantizers are those the run calibrated and searched: nothing is
recalibrated, only their modes are toggled (every quantizer off, then the
quantizers of one layer back on), so the whole analysis costs one forward of
the calibration images per quantized layer, plus two (FP and fully
quantized).
"""
import sys
from collections import OrderedDict
from typing import Dict, List, Sequence, Union

import torch

from clamp_mm.models.base import ModelAdapter
from clamp_mm.quant import TensorQuantizer, iter_quantizers

#: Name of the row that quantizes every layer at once (the run's model).
ALL_LAYERS = '(all layers)'


def quantizers_by_layer(
        model: torch.nn.Module) -> 'OrderedDict[str, List[TensorQuantizer]]':
    """Group the active quantizers of ``model`` by the module that owns them.

    A layer is the parent module of its quantizers: a QuantLinear owns its
    weight and input quantizers, a quantized attention its q, k, v, score,
    softmax and attn@v quantizers, a block its output quantizer. Only
    quantizers in ``'quantize'`` mode count (those the run uses).

    Args:
        model (nn.Module): A quantized model.

    Returns:
        OrderedDict[str, list[TensorQuantizer]]: Layer name to its
        quantizers, in module order.
    """
    layers: 'OrderedDict[str, List[TensorQuantizer]]' = OrderedDict()
    for name, quantizer in iter_quantizers(model):
        if quantizer.mode != 'quantize':
            continue
        layer = name.rpartition('.')[0] or '(root)'
        layers.setdefault(layer, []).append(quantizer)
    return layers


def _flat_output(output: Union[torch.Tensor, Sequence]) -> torch.Tensor:
    """One (B, N) tensor of a logits tensor or a tuple of feature maps."""
    if isinstance(output, torch.Tensor):
        return output.flatten(1).float()
    return torch.cat([_flat_output(item) for item in output], dim=1)


def _relative_error(output: torch.Tensor, reference: torch.Tensor) -> float:
    """``||output - reference|| / ||reference||`` over the whole batch."""
    return float((output - reference).norm() /
                 reference.norm().clamp_min(1e-12))


def _bits_label(quantizers: Sequence[TensorQuantizer]) -> str:
    weight = sorted({q.bits for q in quantizers if q.point == 'weight'})
    activation = sorted({q.bits for q in quantizers if q.point != 'weight'})
    parts = []
    if weight:
        parts.append('W' + '/'.join(map(str, weight)))
    if activation:
        parts.append('A' + '/'.join(map(str, activation)))
    return ' '.join(parts)


@torch.no_grad()
def layer_sensitivity(adapter: ModelAdapter,
                      images: torch.Tensor,
                      batch_size: int = 32,
                      progress: bool = True) -> List[Dict[str, object]]:
    """Output error and top-1 drop when only one layer is quantized.

    For each layer of :func:`quantizers_by_layer` the model runs on
    ``images`` with that layer's quantizers on and every other quantizer
    off. The reference is the FP model (every quantizer off); its top-1
    predictions are the labels (so FP scores 100 %). A last row,
    :data:`ALL_LAYERS`, is the fully quantized model. The quantizers' modes
    are restored afterwards, also on error.

    Args:
        adapter (ModelAdapter): Adapter of the quantized model.
        images (Tensor): Normalised images (B, 3, H, W): the synthetic
            calibration images.
        batch_size (int): Images per forward. Defaults to 32.
        progress (bool): Show an mmengine progress bar. Defaults to True.

    Returns:
        list[dict]: One row per layer, then :data:`ALL_LAYERS`: ``layer``,
        ``quantizers`` (names of its quantizer children), ``bits`` (e.g.
        ``'W4 A8'``), ``output_error`` (relative L2 error of the model
        output against FP), and for classifiers ``top1_agreement`` (% of
        images whose prediction stays the FP one) and ``top1_drop``
        (``100 - top1_agreement``, points); None without a head.
    """
    model = adapter.model
    layers = quantizers_by_layer(model)
    names = {id(q): name for name, q in iter_quantizers(model)}
    everything = [q for _, q in iter_quantizers(model)]
    saved_modes = [q.mode for q in everything]
    was_training = model.training
    model.eval()

    def run() -> torch.Tensor:
        return torch.cat([
            _flat_output(adapter.forward_images(batch))
            for batch in images.split(batch_size)
        ])

    def set_active(active: Sequence[TensorQuantizer]) -> None:
        for quantizer in everything:
            quantizer.mode = 'off'
        for quantizer in active:
            quantizer.mode = 'quantize'

    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(layers) + 2, file=sys.stdout)
    rows = []
    try:
        set_active([])
        reference = run()
        labels = reference.argmax(-1) if adapter.has_head else None
        if bar is not None:
            bar.update()
        jobs = list(layers.items()) + [
            (ALL_LAYERS, [q for qs in layers.values() for q in qs])
        ]
        for layer, quantizers in jobs:
            set_active(quantizers)
            output = run()
            row = dict(layer=layer,
                       quantizers=[names[id(q)] for q in quantizers],
                       bits=_bits_label(quantizers),
                       output_error=_relative_error(output, reference),
                       top1_agreement=None, top1_drop=None)
            if labels is not None:
                agreement = 100.0 * float(
                    (output.argmax(-1) == labels).float().mean())
                row.update(top1_agreement=agreement,
                           top1_drop=100.0 - agreement)
            rows.append(row)
            if bar is not None:
                bar.update()
    finally:
        for quantizer, mode in zip(everything, saved_modes):
            quantizer.mode = mode
        model.train(was_training)
        if bar is not None:
            sys.stdout.write('\n')
    return rows
