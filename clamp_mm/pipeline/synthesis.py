"""Synthesize the calibration set once, split over ranks, cached on disk
(reused under the one provenance rule of :mod:`clamp_mm.synth.image_cache`)."""
import dataclasses
import os.path as osp
from typing import Optional, Sequence, Tuple

import torch
from mmengine import dist
from mmengine.logging import MMLogger

from clamp_mm.models.base import ModelAdapter
from clamp_mm.synth import SyntheticImageDataset
from clamp_mm.synth.base_generator import BaseGenerator, resolve_resolution
from clamp_mm.synth.image_cache import cache_request, differing_fields
from .distributed import broadcast_tensor, gather_images, share_of_images


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
    the same generator config (seed included), model weights, size,
    resolution and number of ranks reads it back instead of generating.

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
    request = cache_request(generator, adapter, num_images, resolution,
                            world_size)

    cached = None
    if rank == 0 and cache_file is not None and osp.isfile(cache_file):
        try:
            candidate = SyntheticImageDataset.load(cache_file)
            differing = differing_fields(candidate.metadata, request)
        except ValueError as error:  # not a set file, or another version
            candidate, differing = None, [str(error)]
        if not differing:
            cached = candidate.images
            logger.info(f'reusing {num_images} synthetic images from '
                        f'{cache_file}')
        else:
            logger.info(f'{cache_file} holds another request (differs in '
                        f'{differing}); generating new images (the file '
                        'will be replaced)')
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
