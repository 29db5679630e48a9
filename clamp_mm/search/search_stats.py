"""Is the search alive? Share of weights whose rounding level a child moves.

A mutation that changes no weight's integer code changes nothing the
quantized model computes (for weights): a search whose children move no
rounding level is dead, however its fitness curve looks. This module counts,
for a child against its parent, the share of a block's weights whose code
``clamp(round(w / s) + z, qmin, qmax)`` differs.
"""
from typing import Dict, List, Tuple

import torch
from torch import nn

from clamp_mm.quant.primitives import broadcast_to_axis, integer_range
from .genome import Genome, GenomeLayout


def weights_of_quantizers(block: nn.Module) -> Dict[int, torch.Tensor]:
    """``{id(weight_quantizer): weight}`` of every quantized layer of a block.

    Args:
        block (nn.Module): A block whose layers own ``weight_quantizer``
            children next to their ``weight``.

    Returns:
        dict[int, Tensor]: The weights, keyed by their quantizer's id.
    """
    weights = {}
    for module in block.modules():
        quantizer = getattr(module, 'weight_quantizer', None)
        weight = getattr(module, 'weight', None)
        if quantizer is not None and isinstance(weight, torch.Tensor):
            weights[id(quantizer)] = weight.detach()
    return weights


class RoundingLevelMonitor:
    """Counts the weights whose rounding level changes between genomes.

    Args:
        layout (GenomeLayout): The block's genome layout.
        block (nn.Module): The block (where the weights are).
    """

    def __init__(self, layout: GenomeLayout, block: nn.Module) -> None:
        weights = weights_of_quantizers(block)
        #: (genome index of the quantizer, weight, channel axis, symmetric)
        self.entries: List[Tuple[int, torch.Tensor, object, bool]] = []
        for index, quantizer in enumerate(layout.quantizers):
            weight = weights.get(id(quantizer))
            if weight is not None and quantizer.kind == 'uniform':
                self.entries.append((index, weight, quantizer.channel_axis,
                                     quantizer.symmetric))
        self.layout = layout
        self.num_weights = sum(weight.numel()
                               for _, weight, _, _ in self.entries)

    def _codes(self, genome: Genome, index: int, weight: torch.Tensor,
               channel_axis, symmetric: bool) -> torch.Tensor:
        segment = self.layout.segment(index)
        shape = self.layout.shapes[index]
        scale = genome.scale[segment].view(shape).to(weight.device)
        zero_point = genome.zero_point[segment].view(shape).to(weight.device)
        qmin, qmax = integer_range(int(genome.bits[index]), symmetric)
        scale = broadcast_to_axis(scale, weight, channel_axis)
        zero_point = broadcast_to_axis(zero_point, weight, channel_axis)
        return torch.clamp(torch.round(weight / scale) + zero_point, qmin,
                           qmax)

    @torch.no_grad()
    def changed_share(self, parent: Genome, child: Genome) -> float:
        """Share (0..1) of the block's weights whose code differs.

        Args:
            parent (Genome): The genome the child came from.
            child (Genome): The child.

        Returns:
            float: 0.0 for a block without weight quantizers.
        """
        if not self.num_weights:
            return 0.0
        changed = 0
        for index, weight, axis, symmetric in self.entries:
            before = self._codes(parent, index, weight, axis, symmetric)
            after = self._codes(child, index, weight, axis, symmetric)
            changed += int((before != after).sum())
        return changed / self.num_weights
