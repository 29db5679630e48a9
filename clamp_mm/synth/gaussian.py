"""Gaussian-noise baseline: N(0, 1) images, no optimisation."""
from dataclasses import dataclass
from typing import Optional

import torch

from clamp_mm.registry import GENERATORS
from .base_generator import (BaseGenerator, ModelLike, Resolution, as_adapter,
                             model_device, resolve_resolution)


@GENERATORS.register_module()
@dataclass
class GaussianGenerator(BaseGenerator):
    """Standard normal noise in normalised input space (method.md section 5).

    Args:
        batch_size (int): Unused by this generator; kept for one interface.
            Defaults to 32.
        seed (int): Seed of the noise. Defaults to 0.
        progress (bool): Unused. Defaults to True.
    """

    def generate(self,
                 model: ModelLike,
                 num_images: int,
                 resolution: Optional[Resolution] = None,
                 quantized_model: Optional[ModelLike] = None) -> torch.Tensor:
        if num_images < 1:
            raise ValueError(f'num_images={num_images} is invalid, '
                             'expected >= 1')
        adapter = as_adapter(model)
        height, width = resolve_resolution(adapter, resolution)
        random = torch.Generator().manual_seed(self.seed)
        return torch.randn(num_images, 3, height, width,
                           generator=random).to(model_device(adapter))
