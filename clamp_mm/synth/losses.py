"""Losses of stage 1: what the synthetic calibration images are optimised for.

Pure torch, no mmengine: every function maps tensors to a scalar loss.

* :func:`patch_contrastive_loss`: CLAMP's patch-level InfoNCE over k x k
  token neighbourhoods (method.md section 2), linear in the number of tokens.
* :func:`patch_similarity_entropy`: PSAQ-ViT v1's kernel-density entropy of
  all patch-pair similarities (quadratic in tokens by definition).
* :func:`random_label_cross_entropy`, :func:`output_disagreement`: output
  terms (PSAQ-style random labels; FP-versus-quantized disagreement).
* :func:`total_variation`: the image prior.
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

#: Norms below this are treated as this value when normalising tokens, so an
#: all-zero token yields a zero similarity instead of a NaN.
_NORM_EPS = 1e-8


def neighbour_offsets(kernel_size: int) -> List[Tuple[int, int]]:
    """The (dy, dx) offsets of a k x k neighbourhood, centre excluded.

    Args:
        kernel_size (int): Odd side k of the neighbourhood.

    Returns:
        list[tuple[int, int]]: k*k - 1 offsets in raster order.
    """
    if kernel_size < 3 or kernel_size % 2 == 0:
        raise ValueError(f'kernel_size={kernel_size} is invalid, expected an '
                         'odd integer >= 3')
    radius = kernel_size // 2
    return [(dy, dx) for dy in range(-radius, radius + 1)
            for dx in range(-radius, radius + 1) if (dy, dx) != (0, 0)]


def _neighbour_regions(height: int, width: int, kernel_size: int):
    """Per offset: (dy, dx, top, bottom, left, right), where token (y, x)
    has neighbour (y + dy, x + dx) inside the grid exactly for y in
    [top, bottom) and x in [left, right) (an empty range on tiny grids)."""
    regions = []
    for dy, dx in neighbour_offsets(kernel_size):
        top, bottom = max(0, -dy), max(0, height - max(0, dy))
        left, right = max(0, -dx), max(0, width - max(0, dx))
        regions.append((dy, dx, top, max(top, bottom), left, max(left,
                                                                right)))
    return regions


class _NeighbourDotProducts(torch.autograd.Function):
    """Dot product of every token with each of its k x k neighbours.

    A hand-written backward: autograd through per-offset slices would
    allocate and zero-fill a full-size gradient for every slice (16 per
    layer for k = 3), which made the loss cost as much as the model. Here
    the gradient is accumulated in place into one buffer, only the grid
    itself (no copy) is kept for backward, and each pair of opposite offsets
    (o, -o) shares one product: dot(i, i + o) is dot(j, j - o) for j = i + o.
    """

    @staticmethod
    def forward(ctx, grid: torch.Tensor, kernel_size: int) -> torch.Tensor:
        batch, height, width, _ = grid.shape
        regions = _neighbour_regions(height, width, kernel_size)
        index_of = {(dy, dx): index
                    for index, (dy, dx, *_) in enumerate(regions)}
        pairs = []
        dots = grid.new_zeros(batch, height, width, len(regions))
        for index, (dy, dx, top, bottom, left, right) in enumerate(regions):
            if (dy, dx) < (0, 0) or bottom == top or right == left:
                continue  # the opposite offset computes it
            opposite = index_of[(-dy, -dx)]
            centre = grid[:, top:bottom, left:right]
            neighbour = grid[:, top + dy:bottom + dy, left + dx:right + dx]
            products = torch.linalg.vecdot(centre, neighbour)
            dots[:, top:bottom, left:right, index] = products
            dots[:, top + dy:bottom + dy, left + dx:right + dx,
                 opposite] = products
            pairs.append((index, opposite, dy, dx, top, bottom, left, right))
        ctx.save_for_backward(grid)
        ctx.pairs = pairs
        return dots

    @staticmethod
    def backward(ctx, grad_dots: torch.Tensor):
        grid, = ctx.saved_tensors
        grad = torch.zeros_like(grid)
        for index, opposite, dy, dx, top, bottom, left, right in ctx.pairs:
            centre = (slice(None), slice(top, bottom), slice(left, right))
            neighbour = (slice(None), slice(top + dy, bottom + dy),
                         slice(left + dx, right + dx))
            weight = (grad_dots[centre + (index, )] +
                      grad_dots[neighbour + (opposite, )])[..., None]
            grad[centre].addcmul_(weight, grid[neighbour])
            grad[neighbour].addcmul_(weight, grid[centre])
        return grad, None


def neighbour_cosine_similarities(
        grid: torch.Tensor,
        kernel_size: int = 3) -> Tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarity of every token with each of its k x k neighbours.

    One shifted view of the grid per offset: memory and time are
    O(k^2 * tokens), and no normalised copy of the grid is kept for backward
    (dot products are divided by the norms instead).

    Args:
        grid (Tensor): Token grid of shape (B, H, W, D).
        kernel_size (int): Odd side of the neighbourhood. Defaults to 3.

    Returns:
        tuple[Tensor, Tensor]: ``similarities`` of shape (B, H, W, K) with
        K = k*k - 1 (zero where the neighbour falls outside the grid), and
        the bool mask ``valid`` of shape (H, W, K) telling which neighbours
        exist (border tokens have fewer).
    """
    if grid.dim() != 4:
        raise ValueError(f'grid has shape {tuple(grid.shape)}, expected '
                         '(B, H, W, D)')
    _, height, width, _ = grid.shape
    radius = kernel_size // 2
    dots = _NeighbourDotProducts.apply(grid, kernel_size)
    norms = grid.norm(dim=-1).clamp_min(_NORM_EPS)
    # Norms are 1/D of the grid: plain autograd through padding is cheap.
    padded_norms = F.pad(norms, (radius, radius, radius, radius), value=1.0)
    neighbour_norms = torch.stack([
        padded_norms[:, radius + dy:radius + dy + height,
                     radius + dx:radius + dx + width]
        for dy, dx in neighbour_offsets(kernel_size)
    ], -1)
    valid = torch.zeros(height, width, len(neighbour_offsets(kernel_size)),
                        dtype=torch.bool, device=grid.device)
    for index, (_, _, top, bottom, left, right) in enumerate(
            _neighbour_regions(height, width, kernel_size)):
        valid[top:bottom, left:right, index] = True
    similarities = dots / (norms[..., None] * neighbour_norms)
    return similarities, valid


@torch.no_grad()
def select_top_p_positives(similarities: torch.Tensor, valid: torch.Tensor,
                           num_positives: int) -> torch.Tensor:
    """Mark each token's ``num_positives`` most similar existing neighbours.

    Chosen without gradient: the selection is a constant of the loss.

    Args:
        similarities (Tensor): (B, H, W, K) neighbour similarities.
        valid (Tensor): (H, W, K) bool mask of existing neighbours.
        num_positives (int): p, the number of positives per token; a token
            with fewer than p neighbours takes all of them.

    Returns:
        Tensor: bool mask (B, H, W, K) of the positives.
    """
    if num_positives < 1:
        raise ValueError(f'num_positives={num_positives} is invalid, '
                         'expected >= 1')
    num_neighbours = similarities.shape[-1]
    masked = similarities.masked_fill(~valid, -math.inf)
    top = masked.topk(min(num_positives, num_neighbours), dim=-1).indices
    positives = torch.zeros_like(similarities, dtype=torch.bool)
    positives.scatter_(-1, top, True)
    return positives & valid


def patch_contrastive_loss(grid: torch.Tensor,
                           kernel_size: int = 3,
                           num_positives: int = 4,
                           temperature: float = 0.2) -> torch.Tensor:
    """CLAMP's patch-level contrastive loss on one layer's token grid.

    For token i with neighbours N(i) and top-p positives P(i)::

        l_i = -log( sum_{j in P(i)} exp(cos(i, j) / t)
                    / sum_{j in N(i)} exp(cos(i, j) / t) )

    averaged over the batch and the tokens that have at least one negative
    (a token whose neighbours are all positives, e.g. a corner token when
    p >= 3, contributes no contrast and is left out of the mean).

    Args:
        grid (Tensor): Token grid (B, H, W, D).
        kernel_size (int): Side k of the neighbourhood. Defaults to 3.
        num_positives (int): p, positives per token. Defaults to 4.
        temperature (float): t of the InfoNCE. Defaults to 0.2.

    Returns:
        Tensor: Scalar loss (zero, still attached to ``grid``, when no token
        has a negative).
    """
    if temperature <= 0:
        raise ValueError(f'temperature={temperature} is invalid, expected > 0')
    similarities, valid = neighbour_cosine_similarities(grid, kernel_size)
    positives = select_top_p_positives(similarities.detach(), valid,
                                       num_positives)
    logits = similarities / temperature
    # A finite fill keeps logsumexp and its gradient finite even for a token
    # with no neighbour at all (a 1 x 1 grid).
    fill = torch.finfo(logits.dtype).min
    log_all = logits.masked_fill(~valid, fill).logsumexp(-1)
    log_positive = logits.masked_fill(~positives, fill).logsumexp(-1)
    has_negative = valid.sum(-1) > positives.sum(-1)
    if not bool(has_negative.any()):
        return grid.sum() * 0
    return (log_all - log_positive)[has_negative].mean()


def multi_layer_contrastive_loss(grids: Sequence[torch.Tensor],
                                 kernel_size: int = 3,
                                 num_positives: int = 4,
                                 temperature: float = 0.2) -> torch.Tensor:
    """Mean of :func:`patch_contrastive_loss` over layers (L_C).

    Args:
        grids (Sequence[Tensor]): One (B, H, W, D) grid per tapped layer.
        kernel_size (int): Side k of the neighbourhood. Defaults to 3.
        num_positives (int): p, positives per token. Defaults to 4.
        temperature (float): t of the InfoNCE. Defaults to 0.2.

    Returns:
        Tensor: Scalar loss.
    """
    if not grids:
        raise ValueError('no token grids to compute the contrastive loss on: '
                         'the adapter returned no token taps')
    losses = [
        patch_contrastive_loss(grid, kernel_size, num_positives, temperature)
        for grid in grids
    ]
    return torch.stack(losses).mean()


def _similarity_entropy(grid: torch.Tensor, bandwidth: float,
                        num_density_points: int,
                        max_tokens: Optional[int]) -> torch.Tensor:
    tokens = grid.flatten(1, 2)
    if max_tokens is not None and tokens.shape[1] > max_tokens:
        # An evenly strided subset keeps the spatial spread of the pairs.
        stride = math.ceil(tokens.shape[1] / max_tokens)
        tokens = tokens[:, ::stride]
    tokens = F.normalize(tokens, dim=-1, eps=_NORM_EPS)
    num_tokens = tokens.shape[1]
    similarity = tokens @ tokens.transpose(1, 2)
    rows, cols = torch.triu_indices(
        num_tokens, num_tokens, offset=1, device=grid.device)
    samples = similarity[:, rows, cols]  # (B, pairs)
    points = torch.linspace(-1, 1, num_density_points, device=grid.device,
                            dtype=grid.dtype)
    scaled = (points[None, :, None] - samples[:, None, :]) / bandwidth
    density = torch.exp(-0.5 * scaled.square()).mean(-1) / (
        bandwidth * math.sqrt(2 * math.pi))
    # Differential entropy -integral p log p, as a Riemann sum on the points.
    step = 2.0 / (num_density_points - 1)
    entropy = -(density * torch.log(density + 1e-12)).sum(-1) * step
    return entropy.mean()


def patch_similarity_entropy(grid: torch.Tensor,
                             bandwidth: float = 0.01,
                             num_density_points: int = 201,
                             max_tokens: Optional[int] = 1024
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
    if not grid.requires_grad:
        return _similarity_entropy(grid, bandwidth, num_density_points,
                                   max_tokens)
    return checkpoint(_similarity_entropy, grid, bandwidth,
                      num_density_points, max_tokens, use_reentrant=False)


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


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean absolute difference of neighbours.

    Args:
        images (Tensor): (B, C, H, W).

    Returns:
        Tensor: Scalar loss.
    """
    vertical = (images[:, :, 1:, :] - images[:, :, :-1, :]).abs().mean()
    horizontal = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().mean()
    return vertical + horizontal
