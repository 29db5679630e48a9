"""PSAQ-ViT v1's density from a random subset of token pairs, against the
density of all pairs on grids small enough to compute both.

Stated tolerances: over 400 draws of 256 pairs (of 2,016), the mean
sampled density and the mean gradient of a fixed linear read-out of it
equal the full ones within 5 standard errors at every entry, and the
gradient's error norm is at most twice what sampling noise explains; one
draw of 32,768 pairs of a 32 x 32 grid (523,776 pairs) gives the full
entropy within 1 % (on average not above it: the plug-in entropy is biased
low, here by under 0.5 %); one draw's gradient of the entropy is noisy
(cosine to the full one above 0.05; about 0.15 measured on such grids)
and the mean over 16 draws turns towards the full gradient (cosine above
0.4 and twice one draw's; about 0.5 measured).
"""
import math

import pytest
import torch

from clamp_mm.synth.losses import _kernel_density, patch_similarity_entropy
from clamp_mm.synth.pair_sampling import (PairSampler, draw_token_pairs,
                                          num_token_pairs,
                                          pair_cosine_similarities)
from clamp_mm.synth.psaq_generators import PSAQv1Generator

BANDWIDTH, POINTS = 0.05, 81


def all_pair_samples(tokens):
    tokens = torch.nn.functional.normalize(tokens, dim=-1)
    rows, cols = torch.triu_indices(tokens.shape[1], tokens.shape[1], 1)
    return (tokens @ tokens.transpose(1, 2))[:, rows, cols]


def test_pairs_are_distinct_and_uniform():
    first, second = draw_token_pairs(
        2, 5, 100_000, torch.Generator().manual_seed(0))
    assert first.shape == second.shape == (2, 100_000)
    assert (first != second).all()
    assert first.min() >= 0 and second.max() <= 4
    # Each of the 10 unordered pairs has probability 1/10.
    low, high = torch.minimum(first, second), torch.maximum(first, second)
    counts = torch.bincount((low * 5 + high).flatten(), minlength=25)
    pair_counts = counts[counts > 0]
    assert len(pair_counts) == num_token_pairs(5)
    frequency = pair_counts.double() / pair_counts.sum()
    assert (frequency - 0.1).abs().max() < 0.005


def test_pair_similarities_equal_the_matrix_entries():
    tokens = torch.nn.functional.normalize(torch.randn(3, 7, 4), dim=-1)
    first, second = draw_token_pairs(3, 7, 50,
                                     torch.Generator().manual_seed(1))
    matrix = tokens @ tokens.transpose(1, 2)
    expected = torch.stack([matrix[b, first[b], second[b]]
                            for b in range(3)])
    torch.testing.assert_close(
        pair_cosine_similarities(tokens, first, second), expected)


def test_mean_sampled_density_and_gradient_equal_the_full_ones():
    torch.manual_seed(2)
    tokens = torch.randn(1, 64, 8, dtype=torch.float64, requires_grad=True)
    readout = torch.rand(POINTS, dtype=torch.float64)  # fixed, linear
    full = _kernel_density(all_pair_samples(tokens), BANDWIDTH, POINTS)[0]
    full_grad, = torch.autograd.grad((full * readout).sum(), tokens)
    generator = torch.Generator().manual_seed(3)
    normalised = torch.nn.functional.normalize(tokens, dim=-1)
    draws, grads = [], []
    for _ in range(400):
        first, second = draw_token_pairs(1, 64, 256, generator)
        density = _kernel_density(
            pair_cosine_similarities(normalised, first, second), BANDWIDTH,
            POINTS)[0]
        grads.append(torch.autograd.grad((density * readout).sum(), tokens,
                                         retain_graph=True)[0])
        draws.append(density.detach())
    draws, grads = torch.stack(draws), torch.stack(grads)
    count = len(draws)
    # Unbiased: the means stay within 5 standard errors of the full values
    # at every density point and every gradient entry ...
    density_error = draws.std(0) / math.sqrt(count)
    assert ((draws.mean(0) - full.detach()).abs() <=
            5 * density_error + 1e-12).all()
    grad_error = grads.std(0) / math.sqrt(count)
    deviation = grads.mean(0) - full_grad
    assert (deviation.abs() <= 5 * grad_error + 1e-12).all()
    # ... and the gradient's error is no larger than sampling noise alone
    # explains (a bias would not average away).
    assert deviation.norm() <= 2 * grad_error.norm()
    # A single draw is far off: the agreement comes from averaging.
    assert (grads[0] - full_grad).norm() > 0.5 * full_grad.norm()

def test_sampled_entropy_and_gradient_match_the_full_on_a_32x32_grid():
    torch.manual_seed(4)
    # 4 channels: similarities spread over [-1, 1] (entropy near log 2).
    grid = torch.randn(1, 32, 32, 4, requires_grad=True)
    full = patch_similarity_entropy(grid, 0.01, 201, max_tokens=None)
    full_grad, = torch.autograd.grad(full, grid)
    sampler = PairSampler(32768, seed=0)
    entropies, grads = [], []
    for _ in range(16):  # fresh pairs at each call, as at each step
        sampled = patch_similarity_entropy(grid, 0.01, 201, max_tokens=None,
                                           pair_sampler=sampler)
        grads.append(torch.autograd.grad(sampled, grid)[0])
        entropies.append(sampled.item())
    assert len(set(entropies)) == len(entropies)
    for entropy in entropies:
        assert abs(entropy - full.item()) <= 0.01 * full.item()
    # Biased low (Jensen), by less than 0.5 % on average.
    mean_entropy = sum(entropies) / len(entropies)
    assert full.item() * 0.995 <= mean_entropy <= full.item()

    def cosine(grad):
        return torch.nn.functional.cosine_similarity(
            grad.flatten(), full_grad.flatten(), 0).item()

    # One step's gradient is a noisy estimate (each token is in ~64 of its
    # 1,023 pairs); averaged over steps it turns towards the full one.
    assert cosine(grads[0]) > 0.05
    assert cosine(torch.stack(grads).mean(0)) > max(
        0.4, 2 * cosine(grads[0]))


def test_small_grids_keep_the_full_density():
    grid = torch.randn(2, 8, 8, 6)  # 2,016 pairs
    full = patch_similarity_entropy(grid, 0.01, 201)
    sampled = patch_similarity_entropy(grid, 0.01, 201,
                                       pair_sampler=PairSampler(2016))
    assert torch.equal(full, sampled)
    assert PairSampler(None).draw(2, 10_000) is None


def test_generator_field_checked_and_reseeded():
    with pytest.raises(ValueError, match='max_pairs'):
        PSAQv1Generator(max_pairs=0)
    generator = PSAQv1Generator(max_pairs=10, seed=5)
    assert generator.get_config()['max_pairs'] == 10
    first = generator.pair_sampler.draw(1, 100)[0]
    generator.pair_sampler.reseed(5)
    assert torch.equal(generator.pair_sampler.draw(1, 100)[0], first)
