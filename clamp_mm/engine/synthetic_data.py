"""Synthesize the calibration set once, split over ranks, cached on disk."""
import dataclasses
import os.path as osp
from typing import Optional, Sequence, Tuple

import torch
from mmengine import dist
from mmengine.logging import MMLogger

from clamp_mm.models.base import ModelAdapter
from clamp_mm.synth import SyntheticImageDataset, model_identity
from clamp_mm.synth.base_generator import BaseGenerator, resolve_resolution
from .distributed import broadcast_tensor, gather_images, share_of_images


def _request(generator: BaseGenerator, identity: str, num_images: int,
             resolution: Tuple[int, int], world_size: int) -> dict:
    """What a cached set must match to be reused."""
    return dict(generator=generator.get_config(), num_images=num_images,
                resolution=list(resolution), model_identity=identity,
                world_size=world_size)


def _matches(dataset: SyntheticImageDataset, request: dict) -> bool:
    stored = {key: dataset.metadata.get(key) for key in request}
    stored['resolution'] = list(stored['resolution'] or [])
    # Saved tuples come back as tuples; compare in one canonical form.
    return _canonical(stored) == _canonical(request)


def _canonical(value):
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    return value


def synthesize(generator: BaseGenerator,
               adapter: ModelAdapter,
               num_images: int,
               resolution: Optional[Sequence[int]] = None,
               cache_file: Optional[str] = None
               ) -> Tuple[SyntheticImageDataset, bool]:
    """Generate ``num_images`` calibration images, reusing a matching cache.

    With several processes each rank generates its share (the generator's
    seed offset by the rank, so the shares differ), the shares are gathered
    and rank 0's gathered set is broadcast, so every rank calibrates on the
    same images. Rank 0 writes the set to ``cache_file``; a later run with
    the same generator config, model weights, size, resolution and number
    of ranks reads it back instead of generating.

    Args:
        generator (BaseGenerator): The generator.
        adapter (ModelAdapter): Adapter of the FP model.
        num_images (int): Images in total.
        resolution (Sequence[int], optional): (H, W); None for the model's
            input size. Defaults to None.
        cache_file (str, optional): Where the set is saved and looked up.
            Defaults to None (neither).

    Returns:
        tuple[SyntheticImageDataset, bool]: The images with their
        provenance, and whether they came from the cache.
    """
    logger = MMLogger.get_current_instance()
    rank, world_size = dist.get_dist_info()
    resolution = resolve_resolution(adapter, resolution)
    request = _request(generator, model_identity(adapter.model), num_images,
                       resolution, world_size)

    cached = None
    if rank == 0 and cache_file is not None and osp.isfile(cache_file):
        candidate = SyntheticImageDataset.load(cache_file)
        if _matches(candidate, request):
            cached = candidate.images
            logger.info(f'reusing {num_images} synthetic images from '
                        f'{cache_file}')
        else:
            logger.info(f'{cache_file} holds another request; generating '
                        'new images (the file will be replaced)')
    if dist.get_world_size() > 1:
        cached = broadcast_tensor(cached)
    if cached is not None:
        return SyntheticImageDataset(cached, metadata=request), True

    share = share_of_images(num_images, rank, world_size)
    rank_generator = dataclasses.replace(generator,
                                         seed=generator.seed + rank)
    if share > 0:
        local = rank_generator.generate(adapter, share, resolution)
    else:
        # More ranks than images: this rank contributes an empty share.
        local = torch.zeros((0, 3) + tuple(resolution))
    images = gather_images(local, num_images)
    images = broadcast_tensor(images)
    metadata = dict(request, seeds=[
        generator.seed + r for r in range(world_size)
    ], model_class=type(adapter.model).__name__)
    if rank_generator.targets is not None and world_size == 1:
        metadata['targets'] = rank_generator.targets.tolist()
    if getattr(rank_generator, 'loss_log', None):
        # This rank's optimisation steps (the run report plots rank 0's).
        metadata['loss_log'] = list(rank_generator.loss_log)
    dataset = SyntheticImageDataset(images, metadata=metadata)
    if rank == 0 and cache_file is not None:
        dataset.save(cache_file, overwrite=True)
    return dataset, False
