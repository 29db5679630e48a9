"""Tiny models of every supported family, for the search tests.

Each factory returns ``(model, (height, width))`` or raises ``pytest.skip``
when the family's library or adapter is not available here, so the
parametrized tests grow with the adapters.
"""
import pytest
import torch


def _timm_vit():
    from timm.models.vision_transformer import VisionTransformer
    return VisionTransformer(img_size=32, patch_size=8, embed_dim=32,
                             depth=2, num_heads=2, mlp_ratio=2,
                             num_classes=10), (32, 32)


def _timm_swin():
    from timm.models.swin_transformer import SwinTransformer
    return SwinTransformer(img_size=32, patch_size=4, window_size=4,
                           embed_dim=16, depths=(1, 1), num_heads=(1, 2),
                           num_classes=10), (32, 32)


def _mmpretrain_vit():
    from mmpretrain.models import ImageClassifier
    model = ImageClassifier(
        backbone=dict(type='VisionTransformer',
                      arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                feedforward_channels=64),
                      img_size=32, patch_size=8),
        neck=None,
        head=dict(type='VisionTransformerClsHead', num_classes=10,
                  in_channels=32))
    return model, (32, 32)


def _mmpretrain_swin():
    from mmpretrain.models import ImageClassifier
    model = ImageClassifier(
        backbone=dict(type='SwinTransformer',
                      arch=dict(embed_dims=16, depths=[1, 1],
                                num_heads=[1, 2]),
                      img_size=32, patch_size=4, window_size=4),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=10, in_channels=32))
    return model, (32, 32)


def _mmdet_swin():
    from mmdet.models.backbones import SwinTransformer
    return SwinTransformer(embed_dims=16, depths=(1, 1), num_heads=(1, 2),
                           window_size=4, out_indices=(0, 1),
                           init_cfg=None), (32, 32)


def _mmseg_swin():
    from mmseg.models.backbones import SwinTransformer
    return SwinTransformer(embed_dims=16, depths=(1, 1), num_heads=(1, 2),
                           window_size=4, out_indices=(0, 1),
                           init_cfg=None), (32, 32)


def _mmseg_vit():
    from mmseg.models.backbones import VisionTransformer
    return VisionTransformer(img_size=32, patch_size=8, embed_dims=32,
                             num_layers=2, num_heads=2, mlp_ratio=2,
                             out_indices=(1, ), init_cfg=None), (32, 32)


FACTORIES = dict(timm_vit=_timm_vit, timm_swin=_timm_swin,
                 mmpretrain_vit=_mmpretrain_vit,
                 mmpretrain_swin=_mmpretrain_swin, mmdet_swin=_mmdet_swin,
                 mmseg_swin=_mmseg_swin, mmseg_vit=_mmseg_vit)


def build_tiny(family: str, seed: int = 0):
    """A tiny eval-mode model of ``family`` with its adapter, or skip."""
    from clamp_mm.models import find_adapter
    torch.manual_seed(seed)
    try:
        model, size = FACTORIES[family]()
    except ImportError as error:
        pytest.skip(f'{family}: library not importable ({error})')
    model.eval()
    try:
        find_adapter(model)
    except TypeError as error:
        pytest.skip(f'{family}: no adapter yet ({error})')
    return model, size
