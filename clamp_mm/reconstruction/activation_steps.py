"""LSQ-style learnable steps of a block's activation quantizers, and QDrop.

Only uniform quantizers get a learnable step (``TensorQuantizer`` with
``kind='uniform'``, the folded RepQ-ViT post-LayerNorm quantizer, the
power-of-two-factor block-output quantizer, whose base step is learned with
its factors fixed). The logarithmic softmax quantizers and the
twin-uniform quantizers keep the observers' parameters: their level grids
are not a step times integers, so LSQ's gradient does not apply.

The step is learned as ``s = s0 * exp(r)`` (a log ratio: one learning rate
fits steps of any magnitude). QDrop: while a block is reconstructed each
activation value skips its quantizer with probability ``drop_prob``.
"""
from typing import Dict, List, Sequence

import torch
from torch import nn

from clamp_mm.quant.tensor_quantizer import TensorQuantizer


def learnable_step(quantizer: TensorQuantizer) -> bool:
    """Whether LSQ applies: a calibrated uniform quantizer."""
    return quantizer.kind == 'uniform' and quantizer.is_calibrated


class ActivationSteps:
    """The learnable steps of some activation quantizers.

    Args:
        quantizers (Sequence[TensorQuantizer]): Calibrated uniform
            activation quantizers.
        learn (bool): Whether the log ratios get gradients.
    """

    def __init__(self, quantizers: Sequence[TensorQuantizer],
                 learn: bool) -> None:
        self.quantizers = list(quantizers)
        self.initial = [q.scale.detach().clone() for q in self.quantizers]
        self.buffers = [q.scale for q in self.quantizers]
        self.log_ratios = [
            nn.Parameter(torch.zeros_like(q.scale), requires_grad=learn)
            for q in self.quantizers
        ]

    def parameters(self) -> List[nn.Parameter]:
        """The log ratios (for the optimiser)."""
        return [p for p in self.log_ratios if p.requires_grad]

    def apply(self) -> None:
        """Put the current (differentiable) steps into the quantizers."""
        for quantizer, initial, ratio in zip(self.quantizers, self.initial,
                                             self.log_ratios):
            quantizer._buffers['scale'] = initial * torch.exp(ratio)

    @torch.no_grad()
    def commit(self) -> None:
        """Write the learned steps into the quantizers' own buffers (the
        ranges scaled alike) and drop the graph."""
        for quantizer, initial, buffer, ratio in zip(
                self.quantizers, self.initial, self.buffers,
                self.log_ratios):
            scale = initial * torch.exp(ratio)
            factor = scale / initial
            quantizer._buffers['scale'] = buffer
            buffer.copy_(scale)
            quantizer.min_val.mul_(factor)
            quantizer.max_val.mul_(factor)


class QuantizationDrop:
    """QDrop's random bypass of activation quantizers, as forward hooks.

    Args:
        quantizers (Sequence[nn.Module]): The block's activation quantizers.
        drop_prob (float): Probability that a value keeps its float value.
        generator (torch.Generator): Draws the masks (CPU; seeded by the
            reconstruction, so a resumed run draws the same).
    """

    def __init__(self, quantizers: Sequence[nn.Module], drop_prob: float,
                 generator: torch.Generator) -> None:
        self.drop_prob = drop_prob
        self.generator = generator
        self.enabled = True
        self.handles = [] if drop_prob <= 0 else [
            quantizer.register_forward_hook(self._hook)
            for quantizer in quantizers
        ]

    def _hook(self, module, inputs, output):
        if not self.enabled or not isinstance(output, torch.Tensor):
            return output
        mask = torch.rand(output.shape, generator=self.generator)
        keep_float = (mask < self.drop_prob).to(output.device)
        return torch.where(keep_float, inputs[0], output)

    def remove(self) -> None:
        """Remove the hooks."""
        for handle in self.handles:
            handle.remove()
        self.handles = []


def activation_quantizers(block: nn.Module,
                          weight_ids: Dict[int, object]
                          ) -> List[TensorQuantizer]:
    """The calibrated activation quantizers inside ``block`` (each once)."""
    seen, found = set(), []
    for module in block.modules():
        if isinstance(module, TensorQuantizer) and module.is_calibrated \
                and id(module) not in weight_ids and id(module) not in seen:
            seen.add(id(module))
            found.append(module)
    return found
