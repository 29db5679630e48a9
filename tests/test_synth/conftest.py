"""Tiny models for the synth tests, one per backbone family available.

A stand-in adapter for a tiny timm ViT lets the generators be tested before
(and independently of) the package's adapters; every family whose adapter
``clamp_mm.models`` registers is added to the parametrisation.
"""
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


def standin_vit_adapter() -> ModelAdapter:
    return StandInViTAdapter(make_tiny_vit())


def _registered_family_factories():
    """(id, factory, resolution) for each family with a package adapter."""
    factories = []
    try:
        from clamp_mm.models.base import find_adapter
        model = make_tiny_vit()
        adapter = find_adapter(model)
        factories.append(('timm-vit', lambda: find_adapter(make_tiny_vit()),
                          None))
        del adapter
    except (TypeError, ImportError):
        pass
    try:
        from clamp_mm.models.base import find_adapter
        from timm.models.swin_transformer import SwinTransformer

        def make_swin():
            torch.manual_seed(0)
            model = SwinTransformer(img_size=32, patch_size=2, window_size=4,
                                    embed_dim=16, depths=(1, 1),
                                    num_heads=(1, 2), num_classes=10,
                                    strict_img_size=False).eval()
            return find_adapter(model)

        make_swin()
        factories.append(('timm-swin', make_swin, None))
    except (TypeError, ImportError):
        pass
    return factories


FAMILY_FACTORIES = [('standin-vit', standin_vit_adapter, None)
                    ] + _registered_family_factories()


@pytest.fixture(params=FAMILY_FACTORIES, ids=[f[0] for f in FAMILY_FACTORIES])
def family_adapter(request):
    """(adapter, resolution) of one tiny model per available family."""
    _, factory, resolution = request.param
    return factory(), resolution


@pytest.fixture
def vit_adapter():
    return standin_vit_adapter()
