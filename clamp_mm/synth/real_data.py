"""Real-data baseline: N images of the task's training set."""
from dataclasses import dataclass
from typing import Optional, Union

import torch
import torch.nn.functional as F

from clamp_mm.registry import DATASETS, GENERATORS
from .base_generator import (BaseGenerator, ModelLike, Resolution, as_adapter,
                             model_device, resolve_resolution)


def _as_image_tensor(sample) -> torch.Tensor:
    """The (C, H, W) image of one dataset sample."""
    if isinstance(sample, dict):
        for key in ('inputs', 'img', 'image'):
            if key in sample:
                sample = sample[key]
                break
        else:
            raise KeyError(f'dataset sample has keys {sorted(sample)}, '
                           "expected one of 'inputs', 'img', 'image'")
    elif isinstance(sample, (tuple, list)):
        sample = sample[0]
    image = torch.as_tensor(sample)
    if image.dim() == 3 and image.shape[-1] in (1, 3) and image.shape[0] > 3:
        image = image.permute(2, 0, 1)  # HWC numpy image from a pipeline
    if image.dim() == 2:
        image = image[None]
    if image.dim() != 3:
        raise ValueError(f'dataset image has shape {tuple(image.shape)}, '
                         'expected (C, H, W), (H, W, C) or (H, W)')
    return image


@GENERATORS.register_module()
@dataclass
class RealDataGenerator(BaseGenerator):
    """Draw ``num_images`` real images (method.md section 5).

    The source is either a tensor of images or a dataset (an object with
    ``__len__``/``__getitem__``, or a config dict built by
    ``clamp_mm.registry.DATASETS``). Float tensors are taken as already
    normalised; uint8 ones are normalised with the adapter's mean and std.
    Grey images are repeated on 3 channels; images of another size are
    resized bilinearly to the requested resolution.

    Args:
        images (Tensor, optional): (N, C, H, W) images. Defaults to None.
        dataset (object | dict, optional): Dataset or its config.
            Defaults to None.
        shuffle (bool): Draw a seeded random subset instead of the first
            ``num_images``. Defaults to True.
    """

    images: Optional[torch.Tensor] = None
    dataset: Optional[Union[object, dict]] = None
    shuffle: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.images is None) == (self.dataset is None):
            raise ValueError('RealDataGenerator needs exactly one source: '
                             f'images={type(self.images).__name__}, '
                             f'dataset={type(self.dataset).__name__}')

    def generate(self,
                 model: ModelLike,
                 num_images: int,
                 resolution: Optional[Resolution] = None,
                 quantized_model: Optional[ModelLike] = None) -> torch.Tensor:
        adapter = as_adapter(model)
        height, width = resolve_resolution(adapter, resolution)
        source = self.images
        if source is None and isinstance(self.dataset, dict):
            self.dataset = DATASETS.build(self.dataset)
        available = len(source) if source is not None else len(self.dataset)
        if not 0 < num_images <= available:
            raise ValueError(f'num_images={num_images} is out of range: the '
                             f'source holds {available} images')
        if self.shuffle:
            random = torch.Generator().manual_seed(self.seed)
            indices = torch.randperm(available, generator=random)[:num_images]
        else:
            indices = torch.arange(num_images)
        if source is not None:
            chosen = [source[int(index)] for index in indices]
        else:
            chosen = [
                _as_image_tensor(self.dataset[int(index)])
                for index in indices
            ]
        images = []
        mean, std = adapter.mean_std
        mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)
        for image in chosen:
            if image.shape[0] == 1:
                image = image.expand(3, -1, -1)
            if not image.is_floating_point():
                image = (image.float() - mean) / std
            if tuple(image.shape[1:]) != (height, width):
                image = F.interpolate(
                    image[None].float(), size=(height, width),
                    mode='bilinear', align_corners=False)[0]
            images.append(image.float())
        return torch.stack(images).contiguous().to(model_device(adapter))
