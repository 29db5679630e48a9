"""PSAQ-ViT v1 and v2 baselines (method.md section 5)."""
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

import torch

from clamp_mm.models.base import ModelAdapter
from clamp_mm.registry import GENERATORS
from .base_generator import ModelLike
from .budget import DEFAULT_REFRESH_ITERATIONS
from .losses import (output_disagreement, patch_similarity_entropy,
                     random_label_cross_entropy)
from .optimising_generator import LossInputs, OptimisingGenerator
from .pair_sampling import PairSampler


def mean_similarity_entropy(grids: Sequence[torch.Tensor], bandwidth: float,
                            num_density_points: int,
                            max_tokens: Optional[int],
                            pair_sampler: Optional[PairSampler] = None
                            ) -> torch.Tensor:
    """Patch-similarity entropy averaged over the tapped layers."""
    if not grids:
        raise ValueError('no token grids for the patch-similarity entropy: '
                         'the adapter returned no token taps')
    return torch.stack([
        patch_similarity_entropy(grid, bandwidth, num_density_points,
                                 max_tokens, pair_sampler) for grid in grids
    ]).mean()


@dataclass
class PSAQv1Base(OptimisingGenerator):
    """What both PSAQ-ViT v1 generators share: two rounds with a jitter per
    round, random labels, a patch-similarity density (not registered; see
    :class:`PSAQv1Generator` and
    :class:`clamp_mm.synth.PSAQv1OfficialGenerator`).

    Args:
        bandwidth (float): Kernel-density bandwidth. Defaults to 0.01.
        num_density_points (int): Points the density is evaluated on.
            Defaults to 201.
        entropy_weight (float): Weight of the entropy. Defaults to 1.0.
        output_weight (float): Weight of the cross-entropy to random labels
            (classifiers only). Defaults to 1.0.
        round_jitters (Sequence[int]): Largest roll of each round; the last
            one is reused for further rounds. Defaults to (15, 30).
    """

    num_rounds: int = 2
    swin_lr: float = 0.2
    lr_schedule: str = 'constant'
    warmup_iterations: int = 0
    bandwidth: float = 0.01
    num_density_points: int = 201
    entropy_weight: float = 1.0
    output_weight: float = 1.0
    round_jitters: Sequence[int] = (15, 30)

    needs_token_grids = True
    uses_random_labels = True

    def jitter_of_round(self, round_index: int) -> int:
        if not self.round_jitters:
            return self.jitter
        return self.round_jitters[min(round_index,
                                      len(self.round_jitters) - 1)]


@GENERATORS.register_module()
@dataclass
class PSAQv1Generator(PSAQv1Base):
    """PSAQ-ViT v1 (our earlier variant): maximise the entropy of patch
    similarity.

    Loss ``-entropy_weight * mean_l H_l + output_weight * CE(random labels)
    + tv_weight * TV``, where H_l is the differential entropy of the kernel
    density of all patch-pair cosine similarities of MHSA output l, on 201
    points of [-1, 1]. Two rounds of 500 Adam steps at constant lr 0.2,
    with roll jitter 15 then 30 px. (We average the layers' entropies
    instead of summing them so that the weight does not depend on the
    depth; the gradient direction is the same.) Inherits the fields of
    :class:`PSAQv1Base`.

    Args:
        max_tokens (int, optional): Most tokens per image whose pairs enter
            the density (a strided subset above it, for detector
            resolutions); None uses all. Defaults to 1024.
        max_pairs (int, optional): Token pairs per image per step whose
            similarities enter the density: a grid with more pairs uses a
            fresh uniform random subset of this size at each step (an
            unbiased estimate of the density, our deviation for dense
            models); grids with at most this many (every classifier here)
            use all. None uses all. Defaults to 32768.
    """

    max_tokens: Optional[int] = 1024
    max_pairs: Optional[int] = 32768

    def __post_init__(self) -> None:
        super().__post_init__()
        self.pair_sampler = PairSampler(self.max_pairs, self.seed)

    def generate(self, *args, **kwargs) -> torch.Tensor:
        self.pair_sampler.reseed(self.seed)
        return super().generate(*args, **kwargs)

    def refresh(self,
                images: torch.Tensor,
                model: ModelLike,
                quantized_model: Optional[ModelLike] = None,
                iterations: int = DEFAULT_REFRESH_ITERATIONS) -> torch.Tensor:
        self.pair_sampler.reseed(self.seed + 1)
        return super().refresh(images, model, quantized_model, iterations)

    def loss_terms(self, inputs: LossInputs) -> Dict[str, torch.Tensor]:
        terms = {
            'similarity_entropy':
            -self.entropy_weight * mean_similarity_entropy(
                inputs.grids, self.bandwidth, self.num_density_points,
                self.max_tokens, self.pair_sampler)
        }
        if inputs.targets is not None and self.output_weight:
            terms['output'] = self.output_weight * random_label_cross_entropy(
                inputs.output, inputs.targets)
        return terms


def recalibrate(quantized_model: torch.nn.Module, images: torch.Tensor,
                forward, batch_size: int) -> None:
    """Re-observe the ranges of the active quantizers on ``images``.

    Only quantizers in ``'quantize'`` mode are touched (those switched off
    on purpose stay off); they go through ``'calibrate'`` and back, which
    recomputes their scales from what they observed.

    Args:
        quantized_model (nn.Module): Holds ``TensorQuantizer`` children.
        images (Tensor): Normalised calibration images.
        forward (callable): Runs the quantized model on a batch.
        batch_size (int): Images per forward.
    """
    from clamp_mm.quant.tensor_quantizer import iter_quantizers
    active = [quantizer for _, quantizer in iter_quantizers(quantized_model)
              if quantizer.mode == 'quantize']
    if not active:
        return
    for quantizer in active:
        quantizer.mode = 'calibrate'
    try:
        with torch.no_grad():
            for batch in images.split(batch_size):
                forward(batch)
    finally:
        for quantizer in active:
            quantizer.mode = 'quantize'


@GENERATORS.register_module()
@dataclass
class PSAQv2Generator(PSAQv1Generator):
    """PSAQ-ViT v2: label-free prior plus an adaptive teacher-student term.

    Each round the images maximise ``entropy_weight * mean_l H_l +
    adaptive_weight * disagreement(FP, quantized)`` (minus TV); after each
    round the quantized model is re-calibrated on the new images, so the
    next round chases what it still gets wrong. Without a quantized model
    only the prior is optimised. The round count and length (4 x 125 steps,
    the same 500-step budget as CLAMP) are our defaults: v2 published no
    code.

    Args:
        adaptive_weight (float): Weight of the disagreement.
            Defaults to 1.0.
        recalibrate_each_round (bool): Re-calibrate the quantized model
            after each round. Defaults to True.
    """

    iterations: int = 125
    num_rounds: int = 4

    #: A stage-1 budget is this generator's total over its rounds
    #: (:func:`clamp_mm.synth.budget.budget_fields`).
    budget_is_total = True
    output_weight: float = 0.0
    round_jitters: Sequence[int] = ()
    adaptive_weight: float = 1.0
    recalibrate_each_round: bool = True

    uses_random_labels = False

    def uses_quantized_model(self, quantized_adapter) -> bool:
        return self.adaptive_weight != 0

    def loss_terms(self, inputs: LossInputs) -> Dict[str, torch.Tensor]:
        terms = super().loss_terms(inputs)
        if inputs.quantized_output is not None:
            terms['adaptive'] = -self.adaptive_weight * output_disagreement(
                inputs.output, inputs.quantized_output, inputs.has_head)
        return terms

    def after_round(self, round_index: int, images: torch.Tensor,
                    adapter: ModelAdapter,
                    quantized_adapter: Optional[ModelAdapter]) -> None:
        if quantized_adapter is None or not self.recalibrate_each_round:
            return
        recalibrate(quantized_adapter.model, images,
                    quantized_adapter.forward_images, self.batch_size)
