"""Token-layout helpers: sequences and Swin windows to (B, H, W, D) grids."""
import math
from typing import Optional, Sequence, Tuple

import torch
from torch import nn


def resolve_grid_size(
    num_patches: int, candidates: Sequence[Optional[Tuple[int, int]]] = ()
) -> Tuple[int, int]:
    """(H, W) of a token grid holding ``num_patches`` tokens.

    Args:
        num_patches (int): Number of patch tokens.
        candidates (Sequence[tuple | None]): Known grid sizes to try first,
            in order (the last recorded input size, the model's default);
            the first whose area matches wins. Defaults to ().

    Returns:
        tuple[int, int]: The grid size; a square one when no candidate
        matches.

    Raises:
        ValueError: When no candidate matches and the count is not square.
    """
    for candidate in candidates:
        if candidate is not None and \
                int(candidate[0]) * int(candidate[1]) == num_patches:
            return int(candidate[0]), int(candidate[1])
    side = math.isqrt(num_patches)
    if side * side == num_patches:
        return side, side
    raise ValueError(f'cannot lay out {num_patches} patch tokens as a grid: '
                     f'no known size {list(candidates)} matches and it is '
                     'not a square')


def sequence_to_grid(tokens: torch.Tensor, num_prefix_tokens: int,
                     grid_size: Tuple[int, int]) -> torch.Tensor:
    """(B, prefix + H*W, D) tokens to a (B, H, W, D) grid.

    Args:
        tokens (Tensor): Token sequence, class/distillation/register tokens
            first.
        num_prefix_tokens (int): How many leading tokens to drop.
        grid_size (tuple[int, int]): (H, W).
    """
    patches = tokens[:, num_prefix_tokens:]
    return patches.reshape(patches.shape[0], grid_size[0], grid_size[1],
                           patches.shape[-1])


def windows_to_grid(windows: torch.Tensor,
                    window_size: Tuple[int, int],
                    grid_size: Tuple[int, int],
                    shift_size: Tuple[int, int],
                    shift_before_pad: bool = False) -> torch.Tensor:
    """Swin window tokens to the un-shifted (B, H, W, D) feature grid.

    Args:
        windows (Tensor): (num_windows * B, wh * ww, D) output of window
            attention, windows in row-major order over the padded grid.
        window_size (tuple[int, int]): (wh, ww).
        grid_size (tuple[int, int]): Unpadded (H, W) of the block's input.
        shift_size (tuple[int, int]): Cyclic shift applied before the
            partition (0 for regular windows); undone here.
        shift_before_pad (bool): The order the block used: timm shifts the
            unpadded grid then pads; OpenMMLab pads then shifts the padded
            grid. Defaults to False (OpenMMLab).

    Returns:
        Tensor: (B, H, W, D).
    """
    window_h, window_w = window_size
    height, width = grid_size
    padded_h = math.ceil(height / window_h) * window_h
    padded_w = math.ceil(width / window_w) * window_w
    channels = windows.shape[-1]
    grid = windows.reshape(-1, padded_h // window_h, padded_w // window_w,
                           window_h, window_w, channels)
    grid = grid.permute(0, 1, 3, 2, 4, 5).reshape(-1, padded_h, padded_w,
                                                  channels)
    if shift_before_pad:
        grid = grid[:, :height, :width]
    if any(shift_size):
        grid = torch.roll(grid, shifts=tuple(shift_size), dims=(1, 2))
    return grid[:, :height, :width].contiguous()


# ---- spatial-size recording ---------------------------------------------------
#: Attribute where :func:`record_hw_shape` keeps the last seen (H, W).
HW_SHAPE_ATTRIBUTE = '_clamp_mm_hw_shape'


def _record_hw_shape_pre_hook(module: nn.Module, args: tuple,
                              kwargs: dict) -> None:
    hw_shape = kwargs.get('hw_shape', args[1] if len(args) > 1 else None)
    if hw_shape is not None:
        setattr(module, HW_SHAPE_ATTRIBUTE, tuple(int(s) for s in hw_shape))


def _record_nhwc_input_pre_hook(module: nn.Module, args: tuple,
                                kwargs: dict) -> None:
    x = args[0] if args else kwargs['x']
    setattr(module, HW_SHAPE_ATTRIBUTE, (int(x.shape[1]), int(x.shape[2])))


def record_hw_shape(module: nn.Module, nhwc_input: bool = False) -> None:
    """Remember the spatial size (H, W) of each call of ``module``.

    A forward pre-hook stores it, :func:`recorded_hw_shape` reads it back.
    By default it is the ``hw_shape`` argument of modules called as
    ``module(x, hw_shape)`` (OpenMMLab Swin blocks); with ``nhwc_input`` it
    is read from the shape of a (B, H, W, C) first input (timm Swin
    blocks). The hook is a module-level function of the module it
    receives, so deep copies keep working. Idempotent.

    Args:
        module (nn.Module): The module to watch.
        nhwc_input (bool): Read (H, W) from the input's shape.
            Defaults to False.
    """
    if getattr(module, '_clamp_mm_records_hw_shape', False):
        return
    hook = (_record_nhwc_input_pre_hook
            if nhwc_input else _record_hw_shape_pre_hook)
    module.register_forward_pre_hook(hook, with_kwargs=True)
    module._clamp_mm_records_hw_shape = True


def _record_output_hw_shape_hook(module: nn.Module, args: tuple,
                                 output) -> None:
    setattr(module, HW_SHAPE_ATTRIBUTE, tuple(int(s) for s in output[1]))


def record_output_hw_shape(module: nn.Module) -> None:
    """Remember the (H, W) a module returns as the second element of its
    output, as OpenMMLab patch embeddings do (``x, hw_shape = embed(img)``).

    Read it back with :func:`recorded_hw_shape`. Idempotent.
    """
    if getattr(module, '_clamp_mm_records_hw_shape', False):
        return
    module.register_forward_hook(_record_output_hw_shape_hook)
    module._clamp_mm_records_hw_shape = True


def recorded_hw_shape(module: nn.Module) -> Tuple[int, int]:
    """The (H, W) that :func:`record_hw_shape` saw last.

    Raises:
        RuntimeError: When the module has not run since recording began.
    """
    hw_shape = getattr(module, HW_SHAPE_ATTRIBUTE, None)
    if hw_shape is None:
        raise RuntimeError(
            f'{type(module).__name__} has not run since its token taps were '
            'requested: call to_grid on the output of a forward pass that '
            'started after token_taps()')
    return hw_shape
