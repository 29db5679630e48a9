"""The one provenance rule of cached calibration images.

A saved set answers a request when the model's weights (a hash), the
generator config (seed included; cosmetic fields such as the progress bar
ignored), the number of images, the resolution and the number of processes
that generated it all match. :meth:`SyntheticImageDataset.load_or_generate`,
the pipeline's :func:`clamp_mm.pipeline.synthesize` and the tools use it.
"""
import hashlib
from typing import List, Sequence

import torch
from torch import nn

from .base_generator import BaseGenerator, ModelLike

#: Generator fields that do not change the images, ignored when deciding
#: whether a saved set answers a request.
COSMETIC_GENERATOR_FIELDS = ('progress', 'log_interval')


def model_identity(model: ModelLike) -> str:
    """SHA-256 of a model's state dict (names, dtypes, shapes and bytes).

    Args:
        model (nn.Module | ModelAdapter): The model.

    Returns:
        str: Hex digest; equal for equal weights, whatever object holds them.
    """
    if not isinstance(model, nn.Module):
        model = model.model
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f'{name}|{tensor.dtype}|{tuple(tensor.shape)}|'.encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cache_request(generator: BaseGenerator,
                  model: ModelLike,
                  num_images: int,
                  resolution: Sequence[int],
                  world_size: int = 1) -> dict:
    """What a cached set must match to be reused (stored in its metadata).

    Args:
        generator (BaseGenerator): The generator (its config, seed
            included).
        model (nn.Module | ModelAdapter): The FP model.
        num_images (int): Images in the set.
        resolution (Sequence[int]): (H, W).
        world_size (int): Processes that generated it (each its share, with
            its own seed). Defaults to 1.

    Returns:
        dict: ``generator``, ``num_images``, ``resolution``,
        ``model_identity``, ``world_size``.
    """
    return dict(generator=generator.get_config(), num_images=num_images,
                resolution=[int(side) for side in resolution],
                model_identity=model_identity(model), world_size=world_size)


def differing_fields(metadata: dict, request: dict) -> List[str]:
    """The fields of ``request`` a saved set's ``metadata`` does not match
    (``[]``: the set answers the request).

    A set saved without ``world_size`` was made by one process.
    """
    stored = dict(metadata)
    stored.setdefault('world_size', 1)
    return [
        key for key, value in request.items()
        if _canonical(stored.get(key)) != _canonical(value)
    ]


def _canonical(value):
    """Tuples as lists, recursively, and cosmetic generator fields dropped,
    so saved and fresh requests compare."""
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {
            key: _canonical(item)
            for key, item in value.items()
            if key not in COSMETIC_GENERATOR_FIELDS
        }
    return value
