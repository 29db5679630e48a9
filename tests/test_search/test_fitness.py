"""The local contrastive fitness against a brute-force reference."""
import math

import pytest
import torch
import torch.nn.functional as F

from clamp_mm.search.fitness import (local_fitness, neighbourhood_info_nce,
                                     output_mae)


def brute_force_info_nce(quantized, fp, kernel_size, temperature):
    """Token by token, straight from the formula of method.md section 3."""
    batch, height, width, _ = fp.shape
    radius = kernel_size // 2
    quantized = F.normalize(quantized, dim=-1)
    fp = F.normalize(fp, dim=-1)
    losses = []
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                logits = []
                for ny in range(y - radius, y + radius + 1):
                    for nx in range(x - radius, x + radius + 1):
                        if 0 <= ny < height and 0 <= nx < width:
                            logits.append(
                                float(quantized[b, y, x] @ fp[b, ny, nx]) /
                                temperature)
                positive = float(quantized[b, y, x] @ fp[b, y, x]) / temperature
                denominator = sum(math.exp(v) for v in logits)
                losses.append(-(positive - math.log(denominator)))
    return sum(losses) / len(losses)


@pytest.mark.parametrize('kernel_size,temperature', [(3, 0.2), (5, 0.5),
                                                     (1, 0.2)])
def test_info_nce_matches_brute_force(kernel_size, temperature):
    torch.manual_seed(0)
    fp = torch.randn(2, 4, 5, 8)
    quantized = fp + 0.3 * torch.randn_like(fp)
    expected = brute_force_info_nce(quantized, fp, kernel_size, temperature)
    value = neighbourhood_info_nce(quantized, fp, kernel_size, temperature)
    assert float(value) == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_info_nce_prefers_the_matching_token():
    torch.manual_seed(0)
    fp = torch.randn(1, 6, 6, 16)
    exact = neighbourhood_info_nce(fp.clone(), fp)
    # Every quantized token now looks like its right-hand neighbour.
    shifted = neighbourhood_info_nce(torch.roll(fp, -1, dims=2), fp)
    assert float(exact) < float(shifted)


def test_info_nce_rejects_bad_arguments():
    grid = torch.zeros(1, 2, 2, 4)
    with pytest.raises(ValueError, match='kernel_size'):
        neighbourhood_info_nce(grid, grid, kernel_size=2)
    with pytest.raises(ValueError, match='temperature'):
        neighbourhood_info_nce(grid, grid, temperature=0)
    with pytest.raises(ValueError, match='same shape'):
        neighbourhood_info_nce(grid, torch.zeros(1, 2, 3, 4))


def test_output_mae_and_local_fitness():
    first, second = torch.zeros(2, 3), torch.ones(2, 3)
    assert float(output_mae(first, second)) == 1.0
    assert float(output_mae([first, first], [second, first])) == 0.5
    grid = torch.randn(1, 3, 3, 4)
    contrastive = float(neighbourhood_info_nce(grid, grid))
    value = local_fitness(grid, grid, 0.25, output_mae_weight=2.0)
    assert value == pytest.approx(contrastive + 0.5)
