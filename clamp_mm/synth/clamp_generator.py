"""CLAMP-ViT's generator: patch-level contrastive learning (stage 1)."""
from dataclasses import dataclass
from typing import Dict

import torch

from clamp_mm.registry import GENERATORS
from .losses import (multi_layer_contrastive_loss, output_disagreement,
                     random_label_cross_entropy)
from .optimising_generator import LossInputs, OptimisingGenerator


@GENERATORS.register_module()
@dataclass
class ClampGenerator(OptimisingGenerator):
    """Synthetic images by patch-contrastive learning (method.md section 2).

    Minimises ``a * L_C + b * L_O - g * L_adaptive + tv_weight * L_TV``:
    L_C the patch-contrastive loss on every MHSA output's token grid; L_O
    the cross-entropy to random labels (classifiers only; a headless
    backbone has none); L_adaptive the FP/quantized disagreement, used only
    when a quantized model is given (from the second cycle of the search
    on, and in :meth:`refresh`). Inherits the optimiser fields of
    :class:`OptimisingGenerator` (500 iterations, Adam lr 0.2 / 0.25 for
    Swin, betas (0.5, 0.9), cosine with 100 warm-up steps, TV 0.05,
    roll jitter and flips).

    Args:
        kernel_size (int): Side k of the token neighbourhood. Defaults to 3.
        num_positives (int): p, positives per token. Defaults to 4.
        temperature (float): t of the InfoNCE. Defaults to 0.2.
        contrastive_weight (float): a. Defaults to 1.0.
        output_weight (float): b. Defaults to 1.0.
        adaptive_weight (float): g; 0 disables the adaptive term.
            Defaults to 1.0.
    """

    kernel_size: int = 3
    num_positives: int = 4
    temperature: float = 0.2
    contrastive_weight: float = 1.0
    output_weight: float = 1.0
    adaptive_weight: float = 1.0

    needs_token_grids = True
    uses_random_labels = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.temperature <= 0:
            raise ValueError(f'temperature={self.temperature} is invalid, '
                             'expected > 0')

    def uses_quantized_model(self, quantized_adapter) -> bool:
        return self.adaptive_weight != 0

    def loss_terms(self, inputs: LossInputs) -> Dict[str, torch.Tensor]:
        terms = {
            'contrastive':
            self.contrastive_weight * multi_layer_contrastive_loss(
                inputs.grids, self.kernel_size, self.num_positives,
                self.temperature)
        }
        if inputs.targets is not None and self.output_weight:
            terms['output'] = self.output_weight * random_label_cross_entropy(
                inputs.output, inputs.targets)
        if inputs.quantized_output is not None:
            terms['adaptive'] = -self.adaptive_weight * output_disagreement(
                inputs.output, inputs.quantized_output, inputs.has_head)
        return terms
