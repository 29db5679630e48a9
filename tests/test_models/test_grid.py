import pytest
import torch

from clamp_mm.models import (resolve_grid_size, sequence_to_grid,
                             windows_to_grid)


def partition(grid, window, shift, shift_before_pad):
    """Reference Swin partition: shift and pad (in the family's order), cut
    into row-major windows."""
    batch, height, width, channels = grid.shape
    pad_h = (-height) % window[0]
    pad_w = (-width) % window[1]
    if shift_before_pad:
        grid = torch.roll(grid, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    grid = torch.nn.functional.pad(grid, (0, 0, 0, pad_w, 0, pad_h))
    if not shift_before_pad:
        grid = torch.roll(grid, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    padded_h, padded_w = grid.shape[1:3]
    grid = grid.view(batch, padded_h // window[0], window[0],
                     padded_w // window[1], window[1], channels)
    return grid.permute(0, 1, 3, 2, 4, 5).reshape(-1, window[0] * window[1],
                                                  channels)


@pytest.mark.parametrize('size,shift', [((8, 8), (0, 0)), ((8, 8), (2, 2)),
                                        ((7, 10), (2, 2)), ((5, 6), (0, 0))])
@pytest.mark.parametrize('shift_before_pad', [True, False])
def test_windows_to_grid_inverts_partition(size, shift, shift_before_pad):
    grid = torch.randn(2, *size, 3)
    windows = partition(grid, (4, 4), shift, shift_before_pad)
    torch.testing.assert_close(
        windows_to_grid(windows, (4, 4), size, shift, shift_before_pad), grid)


def test_sequence_to_grid_drops_prefix():
    tokens = torch.arange(2 * 14 * 1).float().view(1, 14, 2)
    grid = sequence_to_grid(tokens, 2, (3, 4))
    assert grid.shape == (1, 3, 4, 2)
    torch.testing.assert_close(grid[0, 0, 0], tokens[0, 2])


def test_resolve_grid_size():
    assert resolve_grid_size(12, [(2, 2), (3, 4)]) == (3, 4)
    assert resolve_grid_size(16) == (4, 4)
    with pytest.raises(ValueError, match='12 patch tokens'):
        resolve_grid_size(12)
