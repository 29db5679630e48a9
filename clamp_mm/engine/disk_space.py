"""How much disk a quantization run needs, checked before it writes.

A run writes the quantized model (float weights plus quantizer buffers, in
float32), the synthetic images, the search state (which holds the images
again) and small logs and JSON files. A work dir on a disk with less free
space than that is refused before anything is written, with one line
saying how much is needed and how much is free.
"""
from typing import Sequence

from torch import nn

from clamp_mm.fileio import DiskFullError, format_bytes, free_bytes

#: Logs, the config copy, results and search JSON, plots.
SMALL_FILES_BYTES = 256 * 1024
FLOAT32_BYTES = 4


def estimate_run_bytes(model: nn.Module, num_images: int,
                       resolution: Sequence[int],
                       writes_model: bool = True) -> int:
    """Bytes a run writes to its work dir, an upper estimate.

    Args:
        model (nn.Module): The float model.
        num_images (int): Synthetic images.
        resolution (Sequence[int]): Their (H, W).
        writes_model (bool): Whether the quantized model and the images are
            written (False for ``--load-quantized``). Defaults to True.

    Returns:
        int: Bytes.
    """
    if not writes_model:
        return SMALL_FILES_BYTES
    # Quantizer buffers are per channel or per tensor: a tenth of the
    # weights bounds them.
    weights = sum(tensor.numel() for tensor in model.state_dict().values())
    model_bytes = int(weights * FLOAT32_BYTES * 1.1)
    height, width = resolution
    image_bytes = num_images * 3 * height * width * FLOAT32_BYTES
    return model_bytes + 2 * image_bytes + SMALL_FILES_BYTES


def check_run_space(work_dir: str, needed: int) -> None:
    """Raise :class:`DiskFullError` when ``work_dir``'s disk has less than
    ``needed`` bytes free.

    Args:
        work_dir (str): An existing folder.
        needed (int): From :func:`estimate_run_bytes`.
    """
    free = free_bytes(work_dir)
    if free < needed:
        raise DiskFullError(
            f'not enough space in work dir {work_dir}: the run writes about '
            f'{format_bytes(needed)}, {format_bytes(free)} free; free some '
            'space or choose another --work-dir')
