"""Tests of clamp_mm.synth.losses."""
import math

import pytest
import torch

from clamp_mm.synth.losses import (multi_layer_contrastive_loss,
                                   neighbour_cosine_similarities,
                                   output_disagreement,
                                   patch_contrastive_loss,
                                   patch_similarity_entropy,
                                   select_top_p_positives, total_variation)

torch.set_num_threads(1)


def brute_force_contrastive_loss(grid, kernel_size, num_positives,
                                 temperature):
    """method.md's formula, one token and one neighbour at a time."""
    batch, height, width, _ = grid.shape
    radius = kernel_size // 2
    per_token = []
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                similarities = []
                for ny in range(y - radius, y + radius + 1):
                    for nx in range(x - radius, x + radius + 1):
                        if (ny, nx) == (y, x):
                            continue
                        if not (0 <= ny < height and 0 <= nx < width):
                            continue
                        similarities.append(
                            torch.nn.functional.cosine_similarity(
                                grid[b, y, x], grid[b, ny, nx], dim=0))
                ranked = sorted(similarities, key=float, reverse=True)
                positives = ranked[:num_positives]
                if len(positives) == len(ranked):
                    continue  # no negative: no contrast
                numerator = sum(torch.exp(s / temperature) for s in positives)
                denominator = sum(
                    torch.exp(s / temperature) for s in similarities)
                per_token.append(-torch.log(numerator / denominator))
    return torch.stack(per_token).mean()


@pytest.mark.parametrize('kernel_size,num_positives,temperature',
                         [(3, 4, 0.2), (3, 2, 0.5), (5, 6, 0.1)])
def test_contrastive_loss_equals_brute_force(kernel_size, num_positives,
                                             temperature):
    torch.manual_seed(0)
    grid = torch.randn(2, 5, 6, 8, dtype=torch.float64)
    fast = patch_contrastive_loss(grid, kernel_size, num_positives,
                                  temperature)
    reference = brute_force_contrastive_loss(grid, kernel_size,
                                             num_positives, temperature)
    torch.testing.assert_close(fast, reference)


@pytest.mark.parametrize('kernel_size,num_positives,temperature',
                         [(3, 4, 0.2), (5, 6, 0.1)])
def test_contrastive_gradient_equals_brute_force(kernel_size, num_positives,
                                                 temperature):
    torch.manual_seed(1)
    grid = torch.randn(2, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    fast_grad, = torch.autograd.grad(
        patch_contrastive_loss(grid, kernel_size, num_positives,
                               temperature), grid)
    reference_grad, = torch.autograd.grad(
        brute_force_contrastive_loss(grid, kernel_size, num_positives,
                                     temperature), grid)
    torch.testing.assert_close(fast_grad, reference_grad)


def test_neighbour_similarities_and_border_mask():
    torch.manual_seed(2)
    grid = torch.randn(1, 3, 4, 5)
    similarities, valid = neighbour_cosine_similarities(grid, 3)
    assert similarities.shape == (1, 3, 4, 8) and valid.shape == (3, 4, 8)
    counts = valid.sum(-1)
    assert counts[0, 0] == 3 and counts[0, 1] == 5 and counts[1, 1] == 8
    # offset index 7 is (dy, dx) = (1, 1)
    expected = torch.nn.functional.cosine_similarity(
        grid[0, 1, 2], grid[0, 2, 3], dim=0)
    torch.testing.assert_close(similarities[0, 1, 2, 7], expected)


def test_positives_are_top_p_neighbours():
    torch.manual_seed(3)
    grid = torch.randn(2, 4, 5, 7)
    similarities, valid = neighbour_cosine_similarities(grid, 3)
    positives = select_top_p_positives(similarities, valid, 4)
    for b in range(2):
        for y in range(4):
            for x in range(5):
                existing = valid[y, x].nonzero().flatten().tolist()
                ranked = sorted(existing,
                                key=lambda k: -float(similarities[b, y, x, k]))
                chosen = positives[b, y, x].nonzero().flatten().tolist()
                assert sorted(chosen) == sorted(ranked[:4])


def test_single_token_grid_gives_zero_finite_loss():
    grid = torch.randn(2, 1, 1, 4, requires_grad=True)
    loss = patch_contrastive_loss(grid)
    loss.backward()
    assert loss.item() == 0 and torch.isfinite(grid.grad).all()


def test_contrastive_loss_has_no_tokens_squared_tensor():
    # 512 x 512 tokens: a tokens x tokens float32 matrix would need 275 GB,
    # far beyond this machine, so running at all proves it is never built;
    # the profiler also bounds the largest single allocation by one int64
    # per (token, neighbour) pair: the top-p indices.
    grid = torch.randn(1, 512, 512, 2, requires_grad=True)
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities,
                                profile_memory=True) as profiler:
        loss = patch_contrastive_loss(grid)
        loss.backward()
    assert torch.isfinite(loss)
    largest_allocation = max(event.cpu_memory_usage
                             for event in profiler.events())
    tokens, neighbours = 512 * 512, 8
    assert largest_allocation <= tokens * neighbours * 8
    assert largest_allocation < tokens**2 * 4 / 10000


def test_multi_layer_loss_is_mean_of_layers():
    torch.manual_seed(4)
    # Two layers of one shape (computed together) and one of another.
    grids = [torch.randn(2, 4, 4, 8, dtype=torch.float64, requires_grad=True)
             for _ in range(2)]
    grids.append(torch.randn(2, 2, 3, 16, dtype=torch.float64,
                             requires_grad=True))
    expected = sum(patch_contrastive_loss(grid) for grid in grids) / 3
    combined = multi_layer_contrastive_loss(grids)
    torch.testing.assert_close(combined, expected)
    torch.testing.assert_close(torch.autograd.grad(combined, grids),
                               torch.autograd.grad(expected, grids))
    with pytest.raises(ValueError, match='no token grids'):
        multi_layer_contrastive_loss([])


def test_similarity_entropy_prefers_diverse_similarities():
    torch.manual_seed(5)
    identical = torch.ones(1, 4, 4, 8) + 1e-4 * torch.randn(1, 4, 4, 8)
    diverse = torch.randn(1, 4, 4, 8)
    assert patch_similarity_entropy(diverse) > patch_similarity_entropy(
        identical) + 1.0
    # A uniform density on [-1, 1] has entropy log 2: the upper bound.
    assert patch_similarity_entropy(diverse) <= math.log(2) + 0.05


def test_similarity_entropy_gradient_through_checkpoint():
    torch.manual_seed(6)
    grid = torch.randn(2, 3, 3, 4, dtype=torch.float64, requires_grad=True)
    entropy = patch_similarity_entropy(grid, bandwidth=0.1,
                                       num_density_points=41)
    grad, = torch.autograd.grad(entropy, grid)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_output_disagreement():
    logits = torch.randn(4, 10)
    assert output_disagreement(logits, logits, True).abs() < 1e-6
    assert output_disagreement(logits, torch.randn(4, 10), True) > 0
    features = (torch.randn(2, 8, 4, 4), torch.randn(2, 16, 2, 2))
    assert output_disagreement(features, features, False).abs() < 1e-6
    flipped = tuple(-f for f in features)
    torch.testing.assert_close(
        output_disagreement(features, flipped, False), torch.tensor(2.0))


def test_total_variation_zero_on_constant_images():
    assert total_variation(torch.full((1, 3, 5, 5), 2.0)) == 0
    assert total_variation(torch.randn(1, 3, 5, 5)) > 0


def test_similarity_entropy_subsamples_large_grids():
    torch.manual_seed(7)
    grid = torch.randn(1, 8, 8, 4)
    full = patch_similarity_entropy(grid, 0.1, 41, max_tokens=None)
    # Every second token: the same as the entropy of that subset's pairs.
    subset = grid.flatten(1, 2)[:, ::2][:, :, None]
    expected = patch_similarity_entropy(subset, 0.1, 41, max_tokens=None)
    sampled = patch_similarity_entropy(grid, 0.1, 41, max_tokens=32)
    torch.testing.assert_close(sampled, expected)
    assert not torch.equal(sampled, full)


def test_total_variation_gradient_equals_autograd_reference():
    torch.manual_seed(8)
    images = torch.randn(2, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    reference = ((images[:, :, 1:] - images[:, :, :-1]).abs().mean() +
                 (images[..., 1:] - images[..., :-1]).abs().mean())
    torch.testing.assert_close(total_variation(images), reference)
    fast_grad, = torch.autograd.grad(total_variation(images) * 3, images)
    reference_grad, = torch.autograd.grad(reference * 3, images)
    torch.testing.assert_close(fast_grad, reference_grad)


def _all_points_entropy(grid, bandwidth, num_points):
    """PSAQ-ViT v1's entropy with the kernel evaluated at every point."""
    tokens = torch.nn.functional.normalize(grid.flatten(1, 2), dim=-1)
    similarity = tokens @ tokens.transpose(1, 2)
    rows, cols = torch.triu_indices(tokens.shape[1], tokens.shape[1], 1)
    samples = similarity[:, rows, cols]
    points = torch.linspace(-1, 1, num_points, dtype=grid.dtype)
    scaled = (points[None, :, None] - samples[:, None, :]) / bandwidth
    density = torch.exp(-0.5 * scaled.square()).mean(-1) / (
        bandwidth * math.sqrt(2 * math.pi))
    step = 2.0 / (num_points - 1)
    return (-(density * torch.log(density + 1e-12)).sum(-1) * step).mean()


@pytest.mark.parametrize('bandwidth, num_points', [(0.01, 201), (0.1, 21),
                                                   (0.02, 101), (0.5, 41)])
def test_similarity_entropy_equals_the_all_points_density(bandwidth,
                                                          num_points):
    generator = torch.Generator().manual_seed(0)
    grid = torch.randn(3, 5, 6, 8, generator=generator, dtype=torch.float64)
    grid[0, 0, 1] = grid[0, 0, 0]  # a similarity of exactly 1
    grid[1, 0, 1] = -grid[1, 0, 0]  # and one of exactly -1
    grid.requires_grad_(True)
    expected = _all_points_entropy(grid, bandwidth, num_points)
    entropy = patch_similarity_entropy(grid, bandwidth, num_points,
                                       max_tokens=None)
    assert torch.allclose(entropy, expected, rtol=1e-9, atol=1e-12)
    expected_grad, = torch.autograd.grad(expected, grid)
    grad, = torch.autograd.grad(entropy, grid)
    assert torch.allclose(grad, expected_grad, rtol=1e-7, atol=1e-10)
