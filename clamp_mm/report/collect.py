"""Measure what the report shows about a quantized model, as plain data.

Called once the model is quantized (by the report hook of the quantization
loop, or by any caller holding the model and its calibration images); the
result goes into ``report/run_data.json`` so the report is redrawn later
without the model.
"""
import time
from typing import Dict, Iterable, List, Mapping, Optional

import torch

from clamp_mm.models.base import ModelAdapter
from clamp_mm.quant import iter_quantizers
from .patch_density import gaussian_noise_like, patch_similarity_histograms
from .sensitivity import layer_sensitivity

#: Version of the run_data.json layout.
RUN_DATA_VERSION = 1


def quantizer_bits(model: torch.nn.Module) -> Dict[str, dict]:
    """Bits, quant point and kind of every quantizer the model uses.

    Args:
        model (nn.Module): A quantized model.

    Returns:
        dict[str, dict]: Quantizer name to ``bits``, ``point``, ``kind``
        and ``mode``.
    """
    return {
        name: dict(bits=int(quantizer.bits), point=quantizer.point,
                   kind=quantizer.kind, mode=quantizer.mode)
        for name, quantizer in iter_quantizers(model)
    }


def plain_loss_log(loss_log: Optional[Iterable[Mapping]]) -> List[dict]:
    """A generator's loss log with plain float values (JSON-able)."""
    return [{key: (float(value) if isinstance(value, float) else value)
             for key, value in entry.items()} for entry in (loss_log or [])]


def analyse_quantized_model(adapter: ModelAdapter,
                            images: torch.Tensor,
                            reference_images: Optional[torch.Tensor] = None,
                            sensitivity: bool = True,
                            density: bool = True,
                            batch_size: int = 32,
                            progress: bool = True) -> dict:
    """Bits, patch-similarity densities and per-layer sensitivity.

    Args:
        adapter (ModelAdapter): Adapter of the quantized model (quantizers
            calibrated, in the modes the run uses; they are restored).
        images (Tensor): The synthetic calibration images (normalised).
        reference_images (Tensor, optional): Real images of the task
            (normalised), for the density plot. Defaults to None (the
            synthetic images are then compared with Gaussian noise only).
        sensitivity (bool): Measure the per-layer sensitivity.
            Defaults to True.
        density (bool): Measure the patch-similarity densities.
            Defaults to True.
        batch_size (int): Images per forward. Defaults to 32.
        progress (bool): Progress bar for the sensitivity. Defaults to True.

    Returns:
        dict: ``bits``, ``mean_std``, ``num_images``, ``resolution``, and
        when measured ``patch_similarity`` (see
        :func:`patch_similarity_histograms`), ``sensitivity`` (rows of
        :func:`layer_sensitivity`) with ``sensitivity_cost`` (forwards,
        images, seconds), and ``analysis_seconds`` per part.
    """
    mean, std = adapter.mean_std
    data = dict(version=RUN_DATA_VERSION,
                bits=quantizer_bits(adapter.model),
                mean_std=[list(map(float, mean)), list(map(float, std))],
                num_images=int(len(images)),
                resolution=[int(images.shape[-2]), int(images.shape[-1])],
                analysis_seconds={})
    if density:
        started = time.perf_counter()
        sets = dict(synthetic=images)
        if reference_images is not None and len(reference_images):
            sets['real'] = reference_images
        sets['gaussian noise'] = gaussian_noise_like(images)
        try:
            data['patch_similarity'] = patch_similarity_histograms(
                adapter, sets, batch_size)
        except (ValueError, NotImplementedError) as error:
            # An adapter without token taps has no patch tokens to compare.
            data['patch_similarity_error'] = ' '.join(str(error).split())
        data['analysis_seconds']['patch_similarity'] = (
            time.perf_counter() - started)
    if sensitivity:
        started = time.perf_counter()
        rows = layer_sensitivity(adapter, images, batch_size, progress)
        seconds = time.perf_counter() - started
        data['sensitivity'] = rows
        data['sensitivity_cost'] = dict(forwards=len(rows) + 1,
                                        images=int(len(images)),
                                        seconds=seconds)
        data['analysis_seconds']['sensitivity'] = seconds
    return data
