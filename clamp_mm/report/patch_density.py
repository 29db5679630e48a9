"""Patch-similarity densities of image sets, as the FP model sees them.

Per MHSA layer, the distribution of the cosine similarity between the
patch tokens of one image (all pairs): the statistic the CLAMP generator
shapes (method.md section 2). Stored as histograms so a report can be
redrawn from a JSON file without the model.
"""
from typing import Dict, List, Mapping

import torch

from clamp_mm.models.base import ModelAdapter
from clamp_mm.quant import iter_quantizers
from clamp_mm.synth import TokenGridCollector

#: Histogram bins over the cosine similarity range [-1, 1].
NUM_BINS = 80


def gaussian_noise_like(images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Standard normal images of the same shape: what the generators start
    from, the "random input" reference of the density plot.

    Args:
        images (Tensor): Images whose shape, dtype and device are copied.
        seed (int): Seed of the noise. Defaults to 0.

    Returns:
        Tensor: The noise images.
    """
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=generator)
    return noise.to(dtype=images.dtype, device=images.device)


@torch.no_grad()
def _layer_histograms(adapter: ModelAdapter, images: torch.Tensor,
                      batch_size: int):
    names: List[str] = []
    counts: List[torch.Tensor] = []
    for batch in images.split(batch_size):
        with TokenGridCollector(adapter) as collector:
            adapter.forward_images(batch)
        if not counts:
            names = collector.names
            counts = [torch.zeros(NUM_BINS, dtype=torch.float64)
                      for _ in names]
        for index, grid in enumerate(collector.grids):
            tokens = torch.nn.functional.normalize(
                grid.flatten(1, 2).float(), dim=-1)
            similarity = tokens @ tokens.transpose(1, 2)
            rows, cols = torch.triu_indices(tokens.shape[1],
                                            tokens.shape[1], 1)
            values = similarity[:, rows, cols].flatten().clamp(-1, 1)
            counts[index] += torch.histc(values.cpu().double(), NUM_BINS, -1,
                                         1)
    return names, counts


def patch_similarity_histograms(
        adapter: ModelAdapter,
        image_sets: Mapping[str, torch.Tensor],
        batch_size: int = 32) -> Dict[str, object]:
    """Density of within-image patch-pair similarities, per layer and set.

    The model runs with every quantizer off (the FP model); the quantizer
    modes are restored afterwards.

    Args:
        adapter (ModelAdapter): Adapter of the (quantized) model.
        image_sets (Mapping[str, Tensor]): Name (``'synthetic'``,
            ``'real'``, ``'gaussian noise'``) to normalised images.
        batch_size (int): Images per forward. Defaults to 32.

    Returns:
        dict: ``bin_edges`` (NUM_BINS + 1 floats), ``layers`` (tap names)
        and ``densities``: set name to one list per layer of NUM_BINS
        probability densities (each integrates to 1), plus ``num_images``
        per set.
    """
    quantizers = [q for _, q in iter_quantizers(adapter.model)]
    saved_modes = [q.mode for q in quantizers]
    layers: List[str] = []
    densities: Dict[str, List[List[float]]] = {}
    width = 2.0 / NUM_BINS
    try:
        for quantizer in quantizers:
            quantizer.mode = 'off'
        for name, images in image_sets.items():
            layers, counts = _layer_histograms(adapter, images, batch_size)
            densities[name] = [
                (count / count.sum().clamp_min(1) / width).tolist()
                for count in counts
            ]
    finally:
        for quantizer, mode in zip(quantizers, saved_modes):
            quantizer.mode = mode
    edges = torch.linspace(-1, 1, NUM_BINS + 1).tolist()
    return dict(bin_edges=edges, layers=layers, densities=densities,
                num_images={name: int(len(images))
                            for name, images in image_sets.items()})
