"""Check calibration images before they reach a model, in one line.

Images of the wrong resolution otherwise fail deep inside timm or mmcv; an
empty batch or NaN pixels give misleading errors far from the cause.
"""
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
    # The private field, not the ``mode`` setter: the setter resets or
    # finalises observers, and this trial forward must change nothing.
    modes = [(quantizer, quantizer._mode)
             for _, quantizer in iter_quantizers(adapter.model)]
    try:
        for quantizer, _ in modes:
            quantizer._mode = 'off'
        with torch.no_grad():
            adapter.forward_images(images[:1])
    except (RuntimeError, AssertionError, ValueError, IndexError) as error:
        reason = ' '.join(str(error).split())[:120]
        raise ValueError(
            f'{what} of size {images.shape[2]}x{images.shape[3]} do not fit '
            f'the model ({reason}); expected {_expected(adapter)}') from None
    finally:
        for quantizer, mode in modes:
            quantizer._mode = mode
