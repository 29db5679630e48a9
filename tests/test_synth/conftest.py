"""Tiny models for the synth tests: a stand-in ViT, then one per family.

The stand-in adapter (a tiny timm ViT) keeps the generator tests
independent of the package's adapters; the per-family models are the ones
the adapter tests build (``tests/test_models/conftest.py``), so every family
``clamp_mm.models`` supports is exercised here too, and a family whose
library is missing is skipped.
"""
import importlib.util
import os.path as osp

import pytest
import torch
from torch import nn

from clamp_mm.models.base import ModelAdapter, TokenTap

torch.set_num_threads(1)

#: Mean and std (0..255 scale) the stand-in adapter reports.
STANDIN_MEAN_STD = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))


def make_tiny_vit(num_classes: int = 10) -> nn.Module:
    """A 2-block, 16-dim timm ViT on 32x32 inputs (patch 8, 4x4 tokens)."""
    from timm.models.vision_transformer import VisionTransformer
    torch.manual_seed(0)
    return VisionTransformer(img_size=32, patch_size=8, embed_dim=16,
                             depth=2, num_heads=2, num_classes=num_classes,
                             dynamic_img_size=True).eval()


class StandInViTAdapter(ModelAdapter):
    """The minimum of the adapter contract for a timm ViT, for tests only."""

    family = 'test-vit'

    def __init__(self, model):
        super().__init__(model)
        self._grid_size = None

    @property
    def has_head(self):
        return True

    @property
    def input_size(self):
        return (32, 32)

    @property
    def mean_std(self):
        return STANDIN_MEAN_STD

    def forward_images(self, images):
        patch = self.model.patch_embed.patch_size
        self._grid_size = (images.shape[2] // patch[0],
                           images.shape[3] // patch[1])
        return self.model(images)

    def token_taps(self):
        prefix = self.model.num_prefix_tokens

        def to_grid(tokens):
            patches = tokens[:, prefix:]
            return patches.reshape(patches.shape[0], *self._grid_size,
                                   patches.shape[-1])

        return [
            TokenTap(f'blocks.{index}.attn', block.attn, to_grid)
            for index, block in enumerate(self.model.blocks)
        ]


def _adapter_test_families():
    """name -> factory of ``(model, images, grids)`` from the adapter tests."""
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                    'test_models', 'conftest.py')
    if not osp.isfile(path):
        return {}
    spec = importlib.util.spec_from_file_location('_synth_adapter_families',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(getattr(module, 'FAMILIES', {}))


FAMILIES = _adapter_test_families()


@pytest.fixture(params=['standin-vit'] + sorted(FAMILIES))
def family_adapter(request):
    """(adapter, resolution) of one tiny model per family."""
    if request.param == 'standin-vit':
        return StandInViTAdapter(make_tiny_vit()), None
    from clamp_mm.models import find_adapter
    torch.manual_seed(0)
    model, images, _ = FAMILIES[request.param]()
    return find_adapter(model), tuple(images.shape[-2:])


@pytest.fixture
def vit_adapter():
    """The stand-in adapter around a fresh tiny timm ViT."""
    return StandInViTAdapter(make_tiny_vit())


@pytest.fixture
def tiny_vit():
    """A fresh tiny timm ViT (no adapter)."""
    return make_tiny_vit()
