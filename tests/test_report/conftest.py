"""A tiny quantized timm ViT and its calibration images, for the report."""
import pytest
import torch

pytest.importorskip('timm')


def tiny_quantized_vit(weight_bits: int = 4, act_bits: int = 8):
    """A 2-block timm ViT (16x16 inputs), quantized and calibrated on 8
    random images; returns (adapter, images)."""
    from timm.models.vision_transformer import VisionTransformer

    from clamp_mm.models import find_adapter
    from clamp_mm.quant import quantize
    torch.manual_seed(0)
    model = VisionTransformer(img_size=16, patch_size=4, embed_dim=16,
                              depth=2, num_heads=2, mlp_ratio=2.0,
                              num_classes=4).eval()
    # timm's initialisation (std 0.02) gives near-uniform attention, hence
    # identical patch tokens; wider weights make the tokens differ.
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.5)
    images = torch.randn(8, 3, 16, 16,
                         generator=torch.Generator().manual_seed(1))
    adapter = find_adapter(model)
    quantize(model, dict(weight_bits=weight_bits, act_bits=act_bits),
             lambda _: adapter.forward_images(images), adapter)
    return find_adapter(model), images


@pytest.fixture
def quantized_vit():
    return tiny_quantized_vit()


@pytest.fixture(scope='module', autouse=True)
def forget_mmengine_globals():
    """Drop the default scope, visualizers, loggers and message hubs a
    Runner left behind (as mmengine's RunnerTestCase does): a current
    'mmengine' default scope would make later tests build mmpretrain
    models from the wrong registry."""
    yield
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.registry import DefaultScope
    from mmengine.visualization import Visualizer
    for manager in (DefaultScope, Visualizer, MessageHub, MMLogger):
        manager._instance_dict.clear()
