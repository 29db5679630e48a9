"""Small calibrated models of the families the ONNX export is tested on."""
import copy

import pytest
import torch

from clamp_mm.models import find_adapter
from clamp_mm.quant import quantize

#: The two deployable recipes: symmetric int8 weight codes reach
#: onnxruntime's integer kernels. The uniform ``'minmax'`` preset: the default
#: ``'clamp_full'`` has log-sqrt(2) softmax and twin-uniform post-GELU
#: quantizers, which have no integer QDQ form.
RECIPES = {
    'w8a8': dict(preset='minmax', weight_bits=8, act_bits=8,
                 weight_symmetric=True),
    'w4a8': dict(preset='minmax', weight_bits=4, act_bits=8,
                 weight_symmetric=True),
}


def _normal_tokens(model):
    # timm's tiny class-token init would be erased by a per-tensor
    # activation quantizer (see tests/test_models/conftest.py).
    with torch.no_grad():
        for name in ('cls_token', 'dist_token'):
            token = getattr(model, name, None)
            if token is not None:
                token.normal_()


def timm_vit():
    vision_transformer = pytest.importorskip('timm.models.vision_transformer')
    model = vision_transformer.VisionTransformer(
        img_size=32, patch_size=4, embed_dim=32, depth=2, num_heads=2,
        num_classes=10)
    _normal_tokens(model)
    return model.eval(), (32, 32)


def timm_swin():
    swin = pytest.importorskip('timm.models.swin_transformer')
    model = swin.SwinTransformer(img_size=32, patch_size=2, embed_dim=16,
                                 depths=(2, 2), num_heads=(2, 2),
                                 window_size=4, num_classes=10,
                                 drop_path_rate=0.)
    return model.eval(), (32, 32)


def _mm_build(package, cfg):
    pytest.importorskip('mmcv.ops')
    registry = pytest.importorskip(f'{package}.registry')
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(package):
        model = registry.MODELS.build(cfg)
    model.eval()
    return model


def mmpretrain_vit():
    model = _mm_build('mmpretrain', dict(
        type='ImageClassifier',
        backbone=dict(type='VisionTransformer',
                      arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                feedforward_channels=64),
                      img_size=32, patch_size=4, init_cfg=None),
        neck=None,
        head=dict(type='VisionTransformerClsHead', in_channels=32,
                  num_classes=10, loss=dict(type='CrossEntropyLoss')),
        data_preprocessor=dict(type='ClsDataPreprocessor',
                               mean=[127.5] * 3, std=[64.0] * 3)))
    _normal_tokens(model.backbone)
    return model, (32, 32)


def mmdet_swin():
    # 60 px: 15x15 tokens, so windows of 4 need padding.
    model = _mm_build('mmdet', dict(
        type='SwinTransformer', pretrain_img_size=64, embed_dims=16,
        depths=(2, 2), num_heads=(2, 2), window_size=4, strides=(4, 2),
        out_indices=(0, 1), drop_path_rate=0., init_cfg=None))
    return model, (60, 60)


FAMILIES = {
    'timm-vit': timm_vit,
    'timm-swin': timm_swin,
    'mmpretrain-vit': mmpretrain_vit,
    'mmdet-swin': mmdet_swin,
}


def calibrated(family: str, recipe: dict, num_images: int = 8):
    """``(float model, quantized model, (H, W))``, calibrated on random
    images."""
    torch.manual_seed(0)
    model, size = FAMILIES[family]()
    quantized = copy.deepcopy(model)
    adapter = find_adapter(quantized)
    images = torch.randn(num_images, 3, *size)
    quantize(quantized, recipe, lambda m: adapter.forward_images(images))
    return model, quantized, size
