"""PSAQ-ViT v1 as its authors ran it (zkkli/PSAQ-ViT, ``generate_data.py``).

Read from the official code (not copied) and reproduced term by term:

- taps: each block's ``attn.matmul2`` output, attn@v of shape
  (B, heads, N, head_dim), averaged over heads, class token dropped
  (:meth:`ModelAdapter.attention_value_taps`);
- per tap: cosine similarity of every ordered token pair, self-pairs
  included, flattened per image; a Gaussian kernel density (bandwidth 0.01)
  evaluated at 10 points spread evenly between the batch's smallest and
  largest similarity; differential entropy ``-trapz((p + 1e-4) log(p +
  1e-4))`` averaged over the batch; the loss **sums** ``-entropy`` over the
  taps (our other variant averages);
- cross-entropy of the logits to one random label per image (fixed for the
  whole run), weight 1;
- image prior ``0.05 * | TV2(view) - tv_target |``, where ``TV2`` is the sum
  of the L2 norms of the horizontal, vertical and both diagonal neighbour
  differences of the *augmented* batch and ``tv_target`` is drawn once from
  U(2500, 3000) (their value for 32 images of 3 x 224 x 224);
- Adam (lr 0.2, 0.25 for Swin; betas 0.5, 0.9), 2 rounds of 500 steps, each
  round with its own cosine schedule and 100 warm-up steps;
- jitter: one offset drawn from U{-lim, lim} rolls both axes (a diagonal
  roll), lim 15 in round 1 and 30 in round 2, then a flip with
  probability 0.5; pixels clipped to the valid range after every step.

Deviations, all for other resolutions than their 224 x 224 and said here:
the jitter limits and the TV target scale with the input (the limits with
``min(H, W) / 224``, the target with the square root of the number of
values, which is how an L2 norm grows); at 224 x 224 with 32 images both are
the official values. For Swin the official code drops the first token of
every window (there is no class token); we drop none.
"""
import math
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from clamp_mm.models.base import ModelAdapter
from clamp_mm.registry import GENERATORS
from .losses import random_label_cross_entropy
from .psaq_generators import PSAQv1Base

#: Resolution and number of values the official constants were set for.
OFFICIAL_SIZE = 224
OFFICIAL_NUMEL = 32 * 3 * 224 * 224


def official_similarity_entropy(sets: torch.Tensor, num_images: int,
                                bandwidth: float = 0.01,
                                num_points: int = 10) -> torch.Tensor:
    """The official patch-similarity entropy of one tap.

    Args:
        sets (Tensor): (S, 1, T, D) token sets, S = ``num_images`` x sets
            per image (windows for Swin).
        num_images (int): Images in the batch; the similarities of an
            image's sets are pooled into one density.
        bandwidth (float): Gaussian kernel bandwidth. Defaults to 0.01.
        num_points (int): Density points between the batch's smallest and
            largest similarity. Defaults to 10.

    Returns:
        Tensor: Scalar differential entropy, averaged over images (to be
        maximised).
    """
    tokens = sets.flatten(1, 2)
    if tokens.shape[0] % num_images:
        raise ValueError(f'{tokens.shape[0]} token sets do not split into '
                         f'{num_images} images')
    similarity = F.cosine_similarity(tokens.unsqueeze(1),
                                     tokens.unsqueeze(2), dim=3)
    samples = similarity.reshape(num_images, -1)
    bounds = samples.detach()  # the grid's ends carry no gradient
    start, end = float(bounds.min()), float(bounds.max())
    points = torch.linspace(start, end, num_points, device=samples.device,
                            dtype=samples.dtype).repeat(num_images, 1)
    variance = bandwidth**2
    kernel = torch.exp(-(points[:, :, None] - samples[:, None, :]).square() /
                       (2 * variance)) / math.sqrt(2 * math.pi * variance)
    density = kernel.mean(-1) + 1e-4
    return torch.trapz(-density * torch.log(density), points, dim=-1).mean()


def official_total_variation(images: torch.Tensor) -> torch.Tensor:
    """Sum of the L2 norms of the 4 neighbour differences (PSAQ-ViT)."""
    return (torch.norm(images[:, :, :, :-1] - images[:, :, :, 1:]) +
            torch.norm(images[:, :, :-1, :] - images[:, :, 1:, :]) +
            torch.norm(images[:, :, 1:, :-1] - images[:, :, :-1, 1:]) +
            torch.norm(images[:, :, :-1, :-1] - images[:, :, 1:, 1:]))


@GENERATORS.register_module()
@dataclass
class PSAQv1OfficialGenerator(PSAQv1Base):
    """PSAQ-ViT v1 as in zkkli/PSAQ-ViT (see the module docstring).

    Every token pair of every tap enters the density, as in the official
    code: there is no ``max_tokens`` or ``max_pairs`` subsampling (those
    belong to :class:`clamp_mm.synth.PSAQv1Generator`). Inherits the
    fields of :class:`clamp_mm.synth.psaq_generators.PSAQv1Base`.

    Args:
        num_density_points (int): Density points between the smallest and
            largest similarity. Defaults to 10.
        tv_target_range (tuple[float, float]): ``tv_target`` is drawn from
            U(low, high) at the official size, then scaled. Defaults to
            (2500, 3000).
        scale_to_resolution (bool): Scale the jitter limits and the TV
            target from 224 x 224 to the input. Defaults to True.
    """

    lr: float = 0.2
    swin_lr: float = 0.25
    lr_schedule: str = 'cosine'
    warmup_iterations: int = 100
    num_density_points: int = 10
    tv_target_range: Tuple[float, float] = (2500.0, 3000.0)
    scale_to_resolution: bool = True
    round_jitters: Sequence[int] = (15, 30)

    def feature_taps(self, adapter: ModelAdapter) -> list:
        return adapter.attention_value_taps()

    def _resolution_factor(self, pixels: torch.Tensor) -> float:
        if not self.scale_to_resolution:
            return 1.0
        return min(pixels.shape[-2:]) / OFFICIAL_SIZE

    def augment(self, pixels: torch.Tensor, jitter: int,
                random: torch.Generator) -> torch.Tensor:
        limit = round(jitter * self._resolution_factor(pixels))
        view = pixels
        if limit > 0:
            offset = int(torch.randint(-limit, limit + 1, (1, ),
                                       generator=random))
            view = torch.roll(pixels, shifts=(offset, offset), dims=(2, 3))
        if self.flip and float(torch.rand((), generator=random)) < 0.5:
            view = view.flip(3)
        return view

    def _tv_target(self, pixels: torch.Tensor) -> float:
        # Drawn once per generate call, as the official code does (one call
        # per batch of 32 there), then scaled to this batch's size.
        if getattr(self, '_tv_draw', None) is None:
            self._tv_draw = float(torch.rand(
                (), generator=torch.Generator().manual_seed(self.seed + 7)))
        low, high = self.tv_target_range
        scale = (math.sqrt(pixels.numel() / OFFICIAL_NUMEL)
                 if self.scale_to_resolution else 1.0)
        return (low + self._tv_draw * (high - low)) * scale

    def prior_terms(self, pixels: torch.Tensor,
                    view: torch.Tensor) -> Dict[str, torch.Tensor]:
        if not self.tv_weight:
            return {}
        return {
            'total_variation': self.tv_weight * (
                official_total_variation(view) - self._tv_target(pixels)
            ).abs()
        }

    def loss_terms(self, inputs) -> Dict[str, torch.Tensor]:
        num_images = inputs.images.shape[0]
        entropy = torch.stack([
            official_similarity_entropy(sets, num_images, self.bandwidth,
                                        self.num_density_points)
            for sets in inputs.grids
        ]).sum()
        terms = {'similarity_entropy': -self.entropy_weight * entropy}
        if inputs.targets is not None and self.output_weight:
            terms['output'] = self.output_weight * random_label_cross_entropy(
                inputs.output, inputs.targets)
        return terms

    def generate(self, model, num_images: int, resolution=None,
                 quantized_model: Optional[object] = None) -> torch.Tensor:
        self._tv_draw = None
        return super().generate(model, num_images, resolution,
                                quantized_model)
