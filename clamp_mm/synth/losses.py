"""Losses of stage 1: what the synthetic calibration images are optimised for.

Pure torch, no mmengine: every function maps tensors to a scalar loss.

* :func:`patch_contrastive_loss`: CLAMP's patch-level InfoNCE over k x k
  token neighbourhoods (method.md section 2), linear in the number of tokens
  (defined in :mod:`clamp_mm.synth.patch_contrastive`).
* :func:`patch_similarity_entropy`: PSAQ-ViT v1's kernel-density entropy of
  all patch-pair similarities (quadratic in tokens by definition; or
  estimated from a random subset of pairs, :mod:`.pair_sampling`).
* :func:`random_label_cross_entropy`, :func:`output_disagreement`: output
  terms (PSAQ-style random labels; FP-versus-quantized disagreement).
* :func:`total_variation`: the image prior.
"""
import math
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

# The contrastive loss lives in its own module; re-exported so that every
# stage-1 loss can be imported from here.
from .pair_sampling import PairSampler, pair_cosine_similarities
from .patch_contrastive import (multi_layer_contrastive_loss,  # noqa: F401
                                neighbour_cosine_similarities,
                                neighbour_offsets, patch_contrastive_loss,
                                select_top_p_positives)

#: Norms below this are treated as this value when normalising tokens.
_NORM_EPS = 1e-8


#: Kernel values of samples farther than this many bandwidths from a density
#: point are below exp(-24.5) ~ 2e-11 of the peak, under float32 resolution,
#: so they are not computed.
KERNEL_REACH = 7


def _kept_tokens(num_tokens: int, max_tokens: Optional[int]) -> int:
    """Tokens left by the strided subset of :func:`_similarity_entropy`."""
    if max_tokens is None or num_tokens <= max_tokens:
        return num_tokens
    return len(range(0, num_tokens, math.ceil(num_tokens / max_tokens)))


def _similarity_entropy(grid: torch.Tensor, bandwidth: float,
                        num_density_points: int,
                        max_tokens: Optional[int],
                        pairs: Optional[tuple] = None) -> torch.Tensor:
    tokens = grid.flatten(1, 2)
    if max_tokens is not None and tokens.shape[1] > max_tokens:
        # An evenly strided subset keeps the spatial spread of the pairs.
        stride = math.ceil(tokens.shape[1] / max_tokens)
        tokens = tokens[:, ::stride]
    tokens = F.normalize(tokens, dim=-1, eps=_NORM_EPS)
    num_tokens = tokens.shape[1]
    if pairs is not None:  # a random subset: see pair_sampling.py
        samples = pair_cosine_similarities(tokens, *pairs)
    else:
        similarity = tokens @ tokens.transpose(1, 2)
        rows, cols = torch.triu_indices(
            num_tokens, num_tokens, offset=1, device=grid.device)
        samples = similarity[:, rows, cols]  # (B, pairs)
    density = _kernel_density(samples, bandwidth, num_density_points)
    # Differential entropy -integral p log p, as a Riemann sum on the points.
    step = 2.0 / (num_density_points - 1)
    entropy = -(density * torch.log(density + 1e-12)).sum(-1) * step
    return entropy.mean()


def _kernel_density(samples: torch.Tensor, bandwidth: float,
                    num_density_points: int) -> torch.Tensor:
    """Gaussian kernel density of each row of ``samples`` (values in
    [-1, 1]) on ``num_density_points`` evenly spaced points of [-1, 1].

    Each sample only adds to the points within :data:`KERNEL_REACH`
    bandwidths of it (15 of the default 201): the same density to float32
    precision at a fraction of the all-points cost.

    Returns:
        Tensor: (B, num_density_points).
    """
    step = 2.0 / (num_density_points - 1)
    reach = math.ceil(KERNEL_REACH * bandwidth / step)
    norm = samples.shape[-1] * bandwidth * math.sqrt(2 * math.pi)
    if 2 * reach + 1 >= num_density_points:  # every point is near
        points = torch.linspace(-1, 1, num_density_points,
                                device=samples.device, dtype=samples.dtype)
        scaled = (points[None, :, None] - samples[:, None, :]) / bandwidth
        return torch.exp(-0.5 * scaled.square()).sum(-1) / norm
    nearest = torch.round((samples.detach() + 1) / step).long()
    offsets = torch.arange(-reach, reach + 1, device=samples.device)
    index = nearest[..., None] + offsets  # (B, pairs, 2 * reach + 1)
    inside = (index >= 0) & (index < num_density_points)
    index = index.clamp(0, num_density_points - 1)
    scaled = (index.to(samples.dtype) * step - 1 - samples[..., None]) / \
        bandwidth
    kernel = torch.exp(-0.5 * scaled.square()) * inside
    density = samples.new_zeros(samples.shape[0], num_density_points)
    return density.scatter_add(1, index.flatten(1), kernel.flatten(1)) / norm


def patch_similarity_entropy(grid: torch.Tensor,
                             bandwidth: float = 0.01,
                             num_density_points: int = 201,
                             max_tokens: Optional[int] = 1024,
                             pair_sampler: Optional[PairSampler] = None
                             ) -> torch.Tensor:
    """PSAQ-ViT v1's prior: entropy of the patch-similarity density.

    The cosine similarity of every pair of tokens of each image, its Gaussian
    kernel density evaluated on ``num_density_points`` points of [-1, 1],
    and the differential entropy of that density, averaged over the batch.
    Quadratic in the number of tokens by definition; the intermediate
    (B, points, pairs) tensor is recomputed in backward (activation
    checkpointing), so only one layer's worth is alive at a time. Above
    ``max_tokens`` tokens (detector resolutions: a Swin-T stage at 512x512
    has 16,384) an evenly strided subset of tokens is used, since all pairs
    would need gigabytes per image: our deviation, PSAQ-ViT ran at 224.

    Args:
        grid (Tensor): Token grid (B, H, W, D).
        bandwidth (float): Kernel bandwidth. Defaults to 0.01.
        num_density_points (int): Points the density is evaluated on; their
            spacing should not exceed the bandwidth. Defaults to 201.
        max_tokens (int, optional): Most tokens per image whose pairs are
            used; None uses all. Defaults to 1024.
        pair_sampler (PairSampler, optional): Where a grid has more pairs
            than its ``num_pairs``, the density is estimated, without bias,
            from that many random pairs per image, drawn afresh at each call
            (:mod:`clamp_mm.synth.pair_sampling`). Defaults to None (all
            pairs).

    Returns:
        Tensor: Scalar entropy (to be maximised).
    """
    if bandwidth <= 0:
        raise ValueError(f'bandwidth={bandwidth} is invalid, expected > 0')
    if num_density_points < 2:
        raise ValueError(f'num_density_points={num_density_points} is '
                         'invalid, expected >= 2')
    if grid.shape[1] * grid.shape[2] < 2:
        return grid.sum() * 0
    pairs = None
    if pair_sampler is not None:
        # Drawn here, outside the checkpoint, so that backward's recompute
        # sees the same pairs.
        pairs = pair_sampler.draw(
            grid.shape[0],
            _kept_tokens(grid.shape[1] * grid.shape[2], max_tokens),
            grid.device)
    if not grid.requires_grad:
        return _similarity_entropy(grid, bandwidth, num_density_points,
                                   max_tokens, pairs)
    return checkpoint(_similarity_entropy, grid, bandwidth,
                      num_density_points, max_tokens, pairs,
                      use_reentrant=False)


def random_label_cross_entropy(logits: torch.Tensor,
                               targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the FP logits to the random target labels.

    Args:
        logits (Tensor): (B, num_classes).
        targets (Tensor): (B,) int64 labels.

    Returns:
        Tensor: Scalar loss.
    """
    return F.cross_entropy(logits, targets)


OutputType = Union[torch.Tensor, Sequence[torch.Tensor]]


def output_disagreement(full_precision: OutputType, quantized: OutputType,
                        is_logits: bool) -> torch.Tensor:
    """How much the quantized model disagrees with the FP model.

    The adaptive term of method.md sections 2 and 4: generators *maximise*
    it (subtract it from their loss).

    Args:
        full_precision (Tensor | Sequence[Tensor]): FP output: logits
            (B, C), or one or more backbone feature maps.
        quantized (Tensor | Sequence[Tensor]): Quantized output, same layout.
        is_logits (bool): True: KL(FP || quantized) of the softmax
            distributions (batch mean). False: mean over feature maps of
            1 - cosine similarity of each sample's flattened features.

    Returns:
        Tensor: Scalar disagreement, >= 0.
    """
    if is_logits:
        return F.kl_div(
            F.log_softmax(quantized, dim=-1),
            F.log_softmax(full_precision, dim=-1),
            reduction='batchmean',
            log_target=True)
    if isinstance(full_precision, torch.Tensor):
        full_precision, quantized = [full_precision], [quantized]
    if len(full_precision) != len(quantized):
        raise ValueError(f'the FP model returned {len(full_precision)} '
                         f'feature maps, the quantized one {len(quantized)}')
    terms = [
        1 - F.cosine_similarity(
            fp.flatten(1), q.flatten(1), dim=1, eps=_NORM_EPS).mean()
        for fp, q in zip(full_precision, quantized)
    ]
    return torch.stack(terms).mean()


class _TotalVariation(torch.autograd.Function):
    """Mean absolute difference of vertical plus of horizontal neighbours.

    Hand-written so that backward recomputes the differences from the
    images (which are alive anyway) instead of keeping four image-sized
    temporaries per step.
    """

    @staticmethod
    def forward(ctx, images):
        ctx.save_for_backward(images)
        vertical = (images[:, :, 1:, :] - images[:, :, :-1, :]).abs().mean()
        horizontal = (images[:, :, :, 1:] -
                      images[:, :, :, :-1]).abs().mean()
        return vertical + horizontal

    @staticmethod
    def backward(ctx, grad_output):
        images, = ctx.saved_tensors
        grad = torch.zeros_like(images)
        for axis in (2, 3):
            length = images.shape[axis]
            later, earlier = (images.narrow(axis, 1, length - 1),
                              images.narrow(axis, 0, length - 1))
            step = (later - earlier).sign_()
            step.mul_(grad_output / max(1, step.numel()))
            grad.narrow(axis, 1, length - 1).add_(step)
            grad.narrow(axis, 0, length - 1).sub_(step)
        return grad


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean absolute difference of neighbours.

    Args:
        images (Tensor): (B, C, H, W).

    Returns:
        Tensor: Scalar loss, the mean over vertical plus the mean over
        horizontal neighbour pairs.
    """
    if images.dim() != 4:
        raise ValueError(f'images have shape {tuple(images.shape)}, '
                         'expected (B, C, H, W)')
    return _TotalVariation.apply(images)
