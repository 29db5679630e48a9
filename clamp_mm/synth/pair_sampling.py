"""A random subset of token pairs for PSAQ-ViT v1's similarity density.

Pure torch. PSAQ-ViT v1's prior is the entropy of the kernel density of the
cosine similarities of *all* token pairs: N (N - 1) / 2 of them, 523,776 per
image for a 32 x 32 token grid (a Swin stage 1 at 128 px), which made one
step cost minutes on the dense models. The density is a mean over pairs, so
a mean over ``num_pairs`` pairs drawn uniformly at random (with replacement)
estimates it without bias, and so does its gradient; the entropy of the
estimate is a plug-in estimate of the entropy (by Jensen's inequality it is
biased low, by an amount that falls like 1 / ``num_pairs``; tests bound it).
Fresh pairs are drawn at every step, so over a run every pair contributes.
"""
from typing import Optional, Tuple

import torch


def num_token_pairs(num_tokens: int) -> int:
    """Unordered pairs of distinct tokens: N (N - 1) / 2."""
    return num_tokens * (num_tokens - 1) // 2


def draw_token_pairs(batch_size: int,
                     num_tokens: int,
                     num_pairs: int,
                     generator: Optional[torch.Generator] = None,
                     device: Optional[torch.device] = None
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Draw ``num_pairs`` pairs of distinct tokens per image, uniformly.

    The first token is uniform over the N tokens, the second uniform over
    the N - 1 others, so every unordered pair has the same probability
    2 / (N (N - 1)). Draws are independent (with replacement) and made on
    the CPU generator, so a seed gives the same pairs on every device.

    Args:
        batch_size (int): Images.
        num_tokens (int): Tokens per image (N >= 2).
        num_pairs (int): Pairs per image (>= 1).
        generator (torch.Generator, optional): CPU random generator.
            Defaults to None (torch's global one).
        device (torch.device, optional): Where the indices go.
            Defaults to None (CPU).

    Returns:
        tuple[Tensor, Tensor]: int64 indices (batch_size, num_pairs) of the
        first and the second token of each pair.
    """
    if num_tokens < 2:
        raise ValueError(f'num_tokens={num_tokens}, expected >= 2')
    if num_pairs < 1:
        raise ValueError(f'num_pairs={num_pairs}, expected >= 1')
    shape = (batch_size, num_pairs)
    first = torch.randint(num_tokens, shape, generator=generator)
    offset = torch.randint(1, num_tokens, shape, generator=generator)
    second = (first + offset) % num_tokens
    return first.to(device), second.to(device)


def pair_cosine_similarities(tokens: torch.Tensor, first: torch.Tensor,
                             second: torch.Tensor) -> torch.Tensor:
    """Cosine similarities of the drawn pairs of unit-norm tokens.

    Args:
        tokens (Tensor): (B, N, D), each token normalised to unit length.
        first (Tensor): (B, P) int64 index of each pair's first token.
        second (Tensor): (B, P) int64 index of each pair's second token.

    Returns:
        Tensor: (B, P) similarities, differentiable in ``tokens``.
    """
    dims = tokens.shape[-1]

    def gather(index):
        return tokens.gather(1, index[..., None].expand(-1, -1, dims))

    return (gather(first) * gather(second)).sum(-1)


class PairSampler:
    """The random source of a generator's pair subsets: reseeded at the
    start of each generation, so a seed gives the same images.

    Args:
        num_pairs (int, optional): Pairs per image per step; None, or a
            grid with at most this many pairs, uses all pairs.
            Defaults to None.
        seed (int): Seed of the draws. Defaults to 0.
    """

    def __init__(self, num_pairs: Optional[int] = None, seed: int = 0):
        if num_pairs is not None and (not isinstance(num_pairs, int)
                                      or num_pairs < 1):
            raise ValueError(f'max_pairs={num_pairs!r} is invalid, expected '
                             'an int >= 1 or None (all pairs)')
        self.num_pairs = num_pairs
        self.generator = torch.Generator().manual_seed(seed)

    def reseed(self, seed: int) -> None:
        """Restart the draws from ``seed``."""
        self.generator.manual_seed(seed)

    def samples_all(self, num_tokens: int) -> bool:
        """Whether a grid of ``num_tokens`` tokens uses every pair."""
        return (self.num_pairs is None
                or num_token_pairs(num_tokens) <= self.num_pairs)

    def draw(self, batch_size: int, num_tokens: int,
             device: Optional[torch.device] = None
             ) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        """Pair indices for one grid, or None when every pair is used."""
        if self.samples_all(num_tokens):
            return None
        return draw_token_pairs(batch_size, num_tokens, self.num_pairs,
                                self.generator, device)
