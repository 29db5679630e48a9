"""Check calibration images before they reach a model, in one line.

Images of the wrong resolution otherwise fail deep inside timm or mmcv; an
empty batch or NaN pixels give misleading errors far from the cause.
"""
from typing import Optional

import torch

from clamp_mm.quant.tensor_quantizer import iter_quantizers
from .base import ModelAdapter


def _expected(adapter: ModelAdapter) -> str:
    height, width = adapter.input_size
    return (f'(N>=1, 3, H, W) finite normalised float images; '
            f'{type(adapter.model).__name__} takes {height}x{width}')


def check_calibration_images(images, adapter: ModelAdapter,
                             what: str = 'images') -> None:
    """Raise a one-line ValueError unless ``images`` can calibrate
    ``adapter``'s model.

    Checks the type, shape, count and finiteness, then runs the first image
    through the model with every quantizer off (the quantizers' modes are
    restored), so a resolution the model cannot take is named here.

    Args:
        images: Should be a float tensor (N, 3, H, W), N >= 1.
        adapter (ModelAdapter): The model's adapter.
        what (str): Name of the argument, for the message. Defaults to
            ``'images'``.

    Raises:
        ValueError: Naming the bad value and what was expected.
    """
    if not isinstance(images, torch.Tensor) or \
            not images.is_floating_point():
        found = (f'a {images.dtype} tensor' if isinstance(
            images, torch.Tensor) else type(images).__name__)
        raise ValueError(f'{what} is {found}, expected {_expected(adapter)}')
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[0] < 1:
        raise ValueError(f'{what} have shape {tuple(images.shape)}, '
                         f'expected {_expected(adapter)}')
    finite = torch.isfinite(images)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(f'{what} hold {bad} NaN or Inf values of '
                         f'{images.numel()}, expected {_expected(adapter)}')
    reason = _trial_forward(adapter, images[:1])
    if reason is not None:
        raise ValueError(
            f'{what} of size {images.shape[2]}x{images.shape[3]} do not fit '
            f'the model ({reason}); expected {_expected(adapter)}')


def _trial_forward(adapter: ModelAdapter,
                   image: torch.Tensor) -> Optional[str]:
    """Run ``image`` through the model with every quantizer off; the
    model's error in one short line, or None when it ran."""
    # The private field, not the ``mode`` setter: the setter resets or
    # finalises observers, and this trial forward must change nothing.
    modes = [(quantizer, quantizer._mode)
             for _, quantizer in iter_quantizers(adapter.model)]
    try:
        for quantizer, _ in modes:
            quantizer._mode = 'off'
        with torch.no_grad():
            adapter.forward_images(image)
    except (RuntimeError, AssertionError, ValueError, IndexError) as error:
        return ' '.join(str(error).split())[:120]
    finally:
        for quantizer, mode in modes:
            quantizer._mode = mode
    return None


def check_resolution(adapter: ModelAdapter, resolution) -> None:
    """Raise a one-line ValueError unless the model runs at ``resolution``
    (H, W), tried on one blank image when it is not the model's own input
    size.

    Args:
        adapter (ModelAdapter): The model's adapter.
        resolution (tuple[int, int]): (H, W).
    """
    height, width = resolution
    if (height, width) == tuple(adapter.input_size):
        return  # the model's own input size: nothing to try
    device = next(adapter.model.parameters()).device
    reason = _trial_forward(adapter, torch.zeros(1, 3, height, width,
                                                 device=device))
    if reason is not None:
        expected_height, expected_width = adapter.input_size
        raise ValueError(
            f'resolution {height}x{width} does not fit '
            f'{type(adapter.model).__name__} ({reason}); it takes '
            f'{expected_height}x{expected_width}')
