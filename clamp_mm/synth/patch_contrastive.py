"""CLAMP's patch-level contrastive loss, linear in the number of tokens.

For token i of a (B, H, W, D) grid with k x k neighbours N(i) and top-p
positives P(i) (method.md section 2)::

    l_i = -log( sum_{j in P(i)} exp(cos(i, j) / t)
                / sum_{j in N(i)} exp(cos(i, j) / t) )

Only the k*k - 1 similarities of each token are ever formed: O(k^2 * tokens)
time and memory, never a tokens x tokens matrix. Two hand-written autograd
functions keep the cost near that of the model's own layers:

* :class:`_NeighbourCosine` computes the similarities from shifted views of
  the grid and accumulates its gradient in place into one buffer (autograd
  through per-offset slices zero-fills a full-size gradient per slice: 16 per
  layer for k = 3, as slow as the model itself); it keeps only the grid, its
  norms and its output for backward, and each pair of opposite offsets
  (o, -o) shares one product, since cos(i, i + o) is cos(j, j - o) for
  j = i + o.
* :class:`_MaskedInfoNCE` turns similarities into per-token losses and
  recomputes its softmaxes in backward instead of saving them.
"""
import math
from typing import List, Sequence, Tuple

import torch

#: Norms below this are treated as this value, so an all-zero token yields a
#: zero similarity instead of a NaN.
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


def _neighbour_pairs(height: int, width: int, kernel_size: int):
    """One entry per pair of opposite offsets with a non-empty overlap:
    (index of o, index of -o, centre slices, neighbour slices)."""
    regions = _neighbour_regions(height, width, kernel_size)
    index_of = {(dy, dx): index for index, (dy, dx, *_) in enumerate(regions)}
    pairs = []
    for index, (dy, dx, top, bottom, left, right) in enumerate(regions):
        if (dy, dx) < (0, 0) or bottom == top or right == left:
            continue  # the opposite offset covers it, or nothing overlaps
        centre = (slice(None), slice(top, bottom), slice(left, right))
        neighbour = (slice(None), slice(top + dy, bottom + dy),
                     slice(left + dx, right + dx))
        pairs.append((index, index_of[(-dy, -dx)], centre, neighbour))
    return pairs


class _NeighbourCosine(torch.autograd.Function):
    """(B, H, W, D) grid -> (B, H, W, K) cosine similarity to each neighbour
    (zero where the neighbour falls outside the grid)."""

    @staticmethod
    def forward(ctx, grid: torch.Tensor, kernel_size: int) -> torch.Tensor:
        batch, height, width, _ = grid.shape
        pairs = _neighbour_pairs(height, width, kernel_size)
        norms = grid.norm(dim=-1).clamp_min(_NORM_EPS)
        cosine = grid.new_zeros(batch, height, width,
                                kernel_size * kernel_size - 1)
        for index, opposite, centre, neighbour in pairs:
            # einsum reduces without an image-sized temporary (a * b).sum()
            # would make; linalg.vecdot is 25x slower on these strided views.
            products = torch.einsum('bhwd,bhwd->bhw', grid[centre],
                                    grid[neighbour])
            products /= norms[centre] * norms[neighbour]
            cosine[centre + (index, )] = products
            cosine[neighbour + (opposite, )] = products
        ctx.save_for_backward(grid, norms, cosine)
        ctx.pairs = pairs
        return cosine

    @staticmethod
    def backward(ctx, grad_cosine: torch.Tensor):
        # d cos(i, j) / d x_i = x_j / (|x_i| |x_j|) - cos(i, j) x_i / |x_i|^2
        grid, norms, cosine = ctx.saved_tensors
        grad = torch.zeros_like(grid)
        # Coefficient of each token's own vector, applied once at the end.
        own = torch.zeros_like(norms)
        for index, opposite, centre, neighbour in ctx.pairs:
            weight = (grad_cosine[centre + (index, )] +
                      grad_cosine[neighbour + (opposite, )])
            centre_norm, neighbour_norm = norms[centre], norms[neighbour]
            cross = (weight / (centre_norm * neighbour_norm))[..., None]
            grad[centre].addcmul_(cross, grid[neighbour])
            grad[neighbour].addcmul_(cross, grid[centre])
            weighted = weight * cosine[centre + (index, )]
            own[centre] -= weighted / centre_norm.square()
            own[neighbour] -= weighted / neighbour_norm.square()
        grad.addcmul_(own[..., None], grid)
        return grad, None


class _MaskedInfoNCE(torch.autograd.Function):
    """(B, H, W, K) similarities -> (B, H, W) InfoNCE loss per token.

    ``valid`` marks the neighbours inside the grid, ``positives`` the chosen
    positives (a subset of ``valid``).
    """

    @staticmethod
    def forward(ctx, similarities, valid, positives, temperature):
        logits = similarities / temperature
        # A finite fill keeps everything finite even for a token with no
        # neighbour at all (a 1 x 1 grid).
        fill = torch.finfo(logits.dtype).min
        log_all = logits.masked_fill(~valid, fill).logsumexp(-1)
        log_positive = logits.masked_fill(~positives, fill).logsumexp(-1)
        ctx.save_for_backward(similarities, valid, positives, log_all,
                              log_positive)
        ctx.temperature = temperature
        return log_all - log_positive

    @staticmethod
    def backward(ctx, grad_loss):
        similarities, valid, positives, log_all, log_positive = \
            ctx.saved_tensors
        logits = similarities / ctx.temperature
        # d l / d z_k = softmax over N(i) minus softmax over P(i).
        grad = (logits - log_all[..., None]).exp_().mul_(valid)
        grad.sub_((logits - log_positive[..., None]).exp_().mul_(positives))
        grad.mul_(grad_loss[..., None] / ctx.temperature)
        return grad, None, None, None


def neighbour_validity(height: int, width: int, kernel_size: int,
                       device=None) -> torch.Tensor:
    """(H, W, K) bool mask: which neighbours of each token exist."""
    regions = _neighbour_regions(height, width, kernel_size)
    valid = torch.zeros(height, width, len(regions), dtype=torch.bool,
                        device=device)
    for index, (_, _, top, bottom, left, right) in enumerate(regions):
        valid[top:bottom, left:right, index] = True
    return valid


def neighbour_cosine_similarities(
        grid: torch.Tensor,
        kernel_size: int = 3) -> Tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarity of every token with each of its k x k neighbours.

    Args:
        grid (Tensor): Token grid of shape (B, H, W, D).
        kernel_size (int): Odd side of the neighbourhood. Defaults to 3.

    Returns:
        tuple[Tensor, Tensor]: ``similarities`` of shape (B, H, W, K) with
        K = k*k - 1 in the raster order of :func:`neighbour_offsets` (zero
        where the neighbour falls outside the grid), and the bool mask
        ``valid`` of shape (H, W, K) telling which neighbours exist (border
        tokens have fewer).
    """
    if grid.dim() != 4:
        raise ValueError(f'grid has shape {tuple(grid.shape)}, expected '
                         '(B, H, W, D)')
    neighbour_offsets(kernel_size)  # validates kernel_size
    similarities = _NeighbourCosine.apply(grid, kernel_size)
    valid = neighbour_validity(grid.shape[1], grid.shape[2], kernel_size,
                               grid.device)
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

    The mean of l_i (module docstring) over the batch and the tokens that
    have at least one negative: a token whose neighbours are all positives
    (e.g. a corner token, 3 neighbours, when p >= 3) carries no contrast and
    is left out of the mean.

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
    positives = select_top_p_positives(similarities, valid, num_positives)
    has_negative = valid.sum(-1) > positives.sum(-1)
    if not bool(has_negative.any()):
        return grid.sum() * 0
    per_token = _MaskedInfoNCE.apply(similarities, valid, positives,
                                     temperature)
    return per_token[has_negative].mean()


def multi_layer_contrastive_loss(grids: Sequence[torch.Tensor],
                                 kernel_size: int = 3,
                                 num_positives: int = 4,
                                 temperature: float = 0.2) -> torch.Tensor:
    """Mean of :func:`patch_contrastive_loss` over layers (L_C).

    Layers whose grids have the same shape (every block of a ViT, every
    block of a Swin stage) are concatenated along the batch and computed in
    one call: they share the neighbourhood masks, so the mean over the
    concatenation is the mean of their per-layer losses, with a tenth of the
    small operations for a 12-block model.

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
    groups = {}
    for grid in grids:
        groups.setdefault((tuple(grid.shape), grid.dtype), []).append(grid)
    total = 0
    for members in groups.values():
        stacked = members[0] if len(members) == 1 else torch.cat(members)
        total = total + len(members) * patch_contrastive_loss(
            stacked, kernel_size, num_positives, temperature)
    return total / len(grids)
