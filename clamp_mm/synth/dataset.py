"""The synthetic calibration set: generated images, saved with provenance.

Images are stored already normalised (the input space of
``adapter.forward_images``), together with the generator config, its seed,
the resolution and a hash of the model's weights, so a later run can reuse
them instead of generating again, and refuses them for another model.
"""
import os.path as osp
from typing import Optional

import torch
from torch.utils.data import Dataset

from clamp_mm.fileio import atomic_torch_save
from clamp_mm.registry import DATASETS
from .base_generator import (BaseGenerator, ModelLike, Resolution, as_adapter,
                             resolve_resolution)
from .image_cache import (COSMETIC_GENERATOR_FIELDS, cache_request,
                          differing_fields, model_identity)

__all__ = [
    'COSMETIC_GENERATOR_FIELDS', 'FILE_FORMAT_VERSION',
    'SyntheticImageDataset', 'model_identity'
]

#: Version of the saved file layout; bumped when it changes.
FILE_FORMAT_VERSION = 1

@DATASETS.register_module()
class SyntheticImageDataset(Dataset):
    """Normalised calibration images, for calibration and mmengine loaders.

    Build it from images (``SyntheticImageDataset(images)``), from a saved
    file (``dict(type='clamp_mm.SyntheticImageDataset', file='x.pth')``) or
    by generating (:meth:`from_generator`, :meth:`load_or_generate`). Each
    item is ``dict(inputs=image)`` with a float (3, H, W) normalised image.

    Args:
        images (Tensor, optional): (N, 3, H, W) normalised images.
            Defaults to None.
        file (str, optional): A file written by :meth:`save`; exactly one of
            ``images`` and ``file`` is given. Defaults to None.
        metadata (dict, optional): Provenance (generator config, seed, model
            identity, resolution). Defaults to None (empty).
    """

    def __init__(self,
                 images: Optional[torch.Tensor] = None,
                 file: Optional[str] = None,
                 metadata: Optional[dict] = None) -> None:
        if (images is None) == (file is None):
            raise ValueError('SyntheticImageDataset needs exactly one of '
                             f'images and file, got images='
                             f'{type(images).__name__}, file={file!r}')
        if file is not None:
            loaded = self.load(file)
            images, metadata = loaded.images, loaded.metadata
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f'images have shape {tuple(images.shape)}, '
                             'expected (N, 3, H, W)')
        self.images = images
        self.metadata = dict(metadata or {})

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=self.images[index])

    @classmethod
    def from_generator(cls,
                       generator: BaseGenerator,
                       model: ModelLike,
                       num_images: int,
                       resolution: Optional[Resolution] = None,
                       quantized_model: Optional[ModelLike] = None
                       ) -> 'SyntheticImageDataset':
        """Generate images and record how.

        Args:
            generator (BaseGenerator): The generator.
            model (nn.Module | ModelAdapter): The FP model.
            num_images (int): How many images.
            resolution (int | Sequence[int], optional): Side or (H, W).
                Defaults to None (the model's input size).
            quantized_model (nn.Module | ModelAdapter, optional): For an
                adaptive term. Defaults to None.
        """
        adapter = as_adapter(model)
        height, width = resolve_resolution(adapter, resolution)
        images = generator.generate(adapter, num_images, (height, width),
                                    quantized_model)
        metadata = dict(
            generator=generator.get_config(),
            seed=generator.seed,
            num_images=num_images,
            resolution=(height, width),
            model_identity=model_identity(adapter.model),
            model_class=type(adapter.model).__name__)
        if generator.targets is not None:
            metadata['targets'] = generator.targets.tolist()
        return cls(images, metadata=metadata)

    def save(self, path: str, overwrite: bool = False) -> None:
        """Write images and metadata to ``path`` (torch.save format).

        Args:
            path (str): Destination file.
            overwrite (bool): Replace an existing file. Defaults to False.

        Raises:
            FileExistsError: When ``path`` exists and ``overwrite`` is False;
                the existing file is left untouched.
        """
        if osp.exists(path) and not overwrite:
            raise FileExistsError(
                f'{path} already exists; pass overwrite=True to replace it '
                'or choose another path')
        # A crash or a full disk never leaves a truncated file at the
        # destination, nor a temporary file beside it.
        atomic_torch_save(
            dict(format_version=FILE_FORMAT_VERSION,
                 images=self.images.detach().cpu().contiguous(),
                 metadata=self.metadata), path)

    @classmethod
    def load(cls,
             path: str,
             model: Optional[ModelLike] = None) -> 'SyntheticImageDataset':
        """Read a file written by :meth:`save`, bit for bit.

        Args:
            path (str): The file.
            model (nn.Module | ModelAdapter, optional): When given, the file
                must have been generated from a model with these weights.
                Defaults to None.

        Raises:
            ValueError: Not a file of :meth:`save`, unknown file version, or
                a model-identity mismatch.
        """
        content = torch.load(path, map_location='cpu', weights_only=True)
        if not isinstance(content, dict):
            raise ValueError(f'{path} holds a {type(content).__name__}, not '
                             'a file written by SyntheticImageDataset.save')
        version = content.get('format_version')
        if version != FILE_FORMAT_VERSION:
            raise ValueError(f'{path} has format_version={version}, expected '
                             f'{FILE_FORMAT_VERSION}')
        dataset = cls.__new__(cls)
        dataset.images = content['images']
        dataset.metadata = content['metadata']
        if model is not None:
            stored = dataset.metadata.get('model_identity')
            current = model_identity(model)
            if stored != current:
                raise ValueError(
                    f'{path} was generated from a model with identity '
                    f'{stored}, but this model has identity {current}: '
                    'regenerate the images for this model')
        return dataset

    @classmethod
    def load_or_generate(cls,
                         path: str,
                         generator: BaseGenerator,
                         model: ModelLike,
                         num_images: int,
                         resolution: Optional[Resolution] = None,
                         overwrite: bool = False) -> 'SyntheticImageDataset':
        """Reuse ``path`` if it holds the same request, else generate it.

        The request matches under the one provenance rule of
        :mod:`clamp_mm.synth.image_cache` (model identity, generator config
        with its seed, number of images, resolution).

        Args:
            path (str): Cache file.
            generator (BaseGenerator): The generator.
            model (nn.Module | ModelAdapter): The FP model.
            num_images (int): How many images.
            resolution (int | Sequence[int], optional): Side or (H, W).
                Defaults to None (the model's input size).
            overwrite (bool): Replace a file that holds another request;
                otherwise that raises FileExistsError. Defaults to False.
        """
        adapter = as_adapter(model)
        resolution = resolve_resolution(adapter, resolution)
        if osp.exists(path):
            cached = cls.load(path)
            differing = differing_fields(
                cached.metadata,
                cache_request(generator, adapter, num_images, resolution))
            if not differing:
                return cached
            if not overwrite:
                raise FileExistsError(
                    f'{path} holds images of another request (differs in '
                    f'{differing}); pass overwrite=True or another path')
        dataset = cls.from_generator(generator, adapter, num_images,
                                     resolution)
        dataset.save(path, overwrite=overwrite)
        return dataset

