"""Tiny random models of every supported family, for the adapter tests.

Each entry builds ``(model, images, expected_tap_grids)``: a model in eval
mode, a small normalised batch, and the (H, W, D) every token tap must give.
Families whose library is missing are skipped.
"""
import pytest
import torch


def _realistic_prefix_tokens(model):
    # timm initialises class/distillation tokens with std 1e-6..0.02, far
    # smaller than the patch tokens of any trained model; at that scale a
    # per-tensor activation quantizer erases them and the logits with them.
    with torch.no_grad():
        for name in ('cls_token', 'dist_token'):
            token = getattr(model, name, None)
            if token is not None:
                token.normal_()


def timm_vit():
    vision_transformer = pytest.importorskip('timm.models.vision_transformer')
    model = vision_transformer.VisionTransformer(img_size=32,
                                                 patch_size=4,
                                                 embed_dim=32,
                                                 depth=2,
                                                 num_heads=2,
                                                 num_classes=10)
    _realistic_prefix_tokens(model)
    return model.eval(), torch.randn(4, 3, 32, 32), [(8, 8, 32)] * 2


def timm_deit_distilled():
    deit = pytest.importorskip('timm.models.deit')
    model = deit.VisionTransformerDistilled(img_size=32,
                                            patch_size=4,
                                            embed_dim=32,
                                            depth=2,
                                            num_heads=2,
                                            num_classes=10)
    _realistic_prefix_tokens(model)
    return model.eval(), torch.randn(4, 3, 32, 32), [(8, 8, 32)] * 2


def timm_swin():
    swin = pytest.importorskip('timm.models.swin_transformer')
    model = swin.SwinTransformer(img_size=32,
                                 patch_size=2,
                                 embed_dim=16,
                                 depths=(2, 2),
                                 num_heads=(2, 2),
                                 window_size=4,
                                 num_classes=10,
                                 drop_path_rate=0.)
    return model.eval(), torch.randn(2, 3, 32,
                                     32), [(16, 16, 16)] * 2 + [(8, 8, 32)] * 2


def _mm_build(package, cfg):
    pytest.importorskip('mmcv.ops')
    registry = pytest.importorskip(f'{package}.registry')
    from mmengine.registry import DefaultScope

    # A registry builds in the *current default scope*: another test may
    # have left mmpretrain's there, whose SwinTransformer takes other args.
    with DefaultScope.overwrite_default_scope(package):
        model = registry.MODELS.build(cfg)
    model.eval()  # OpenMMLab Swin's train() returns None, not self
    return model


def _mm_classifier(backbone, head, neck=None):
    return dict(type='ImageClassifier',
                backbone=backbone,
                neck=neck,
                head=dict(head,
                          num_classes=10,
                          loss=dict(type='CrossEntropyLoss')),
                data_preprocessor=dict(type='ClsDataPreprocessor',
                                       mean=[127.5] * 3,
                                       std=[64.0] * 3))


def mmpretrain_vit():
    model = _mm_build(
        'mmpretrain',
        _mm_classifier(
            dict(type='VisionTransformer',
                 arch=dict(embed_dims=32,
                           num_layers=2,
                           num_heads=2,
                           feedforward_channels=64),
                 img_size=32,
                 patch_size=4,
                 init_cfg=None),
            dict(type='VisionTransformerClsHead', in_channels=32)))
    _realistic_prefix_tokens(model.backbone)
    return model, torch.randn(4, 3, 32, 32), [(8, 8, 32)] * 2


def mmpretrain_deit_distilled():
    model = _mm_build(
        'mmpretrain',
        _mm_classifier(
            dict(type='DistilledVisionTransformer',
                 arch=dict(embed_dims=32,
                           num_layers=2,
                           num_heads=2,
                           feedforward_channels=64),
                 img_size=32,
                 patch_size=4,
                 init_cfg=None), dict(type='DeiTClsHead', in_channels=32)))
    _realistic_prefix_tokens(model.backbone)
    return model, torch.randn(4, 3, 32, 32), [(8, 8, 32)] * 2


def mmpretrain_swin():
    model = _mm_build(
        'mmpretrain',
        _mm_classifier(dict(type='SwinTransformer',
                            arch=dict(embed_dims=16,
                                      depths=[2, 2],
                                      num_heads=[2, 2]),
                            img_size=64,
                            window_size=4,
                            out_indices=(1, ),
                            drop_path_rate=0.,
                            init_cfg=None),
                       dict(type='LinearClsHead', in_channels=32),
                       neck=dict(type='GlobalAveragePooling')))
    return model, torch.randn(2, 3, 64,
                              64), [(16, 16, 16)] * 2 + [(8, 8, 32)] * 2


def _openmmlab_swin(package):
    return _mm_build(
        package,
        dict(type='SwinTransformer',
             pretrain_img_size=64,
             embed_dims=16,
             depths=(2, 2),
             num_heads=(2, 2),
             window_size=4,
             strides=(4, 2),
             out_indices=(0, 1),
             drop_path_rate=0.,
             init_cfg=None))


def mmdet_swin():
    # 60 px: 15x15 then 8x8 tokens, so windows of 4 need padding.
    return _openmmlab_swin('mmdet'), torch.randn(
        2, 3, 60, 60), [(15, 15, 16)] * 2 + [(8, 8, 32)] * 2


def mmseg_swin():
    return _openmmlab_swin('mmseg'), torch.randn(
        2, 3, 64, 64), [(16, 16, 16)] * 2 + [(8, 8, 32)] * 2


def mmseg_vit():
    model = _mm_build(
        'mmseg',
        dict(type='VisionTransformer',
             img_size=(32, 48),
             patch_size=4,
             embed_dims=32,
             num_layers=2,
             num_heads=2,
             mlp_ratio=2,
             out_indices=(1, ),
             drop_path_rate=0.,
             init_cfg=None))
    _realistic_prefix_tokens(model)
    # A non-square input: the grid must come from the patch embedding.
    return model, torch.randn(2, 3, 32, 48), [(8, 12, 32)] * 2


FAMILIES = {
    'mmdet-swin': mmdet_swin,
    'mmpretrain-deit-distilled': mmpretrain_deit_distilled,
    'mmpretrain-swin': mmpretrain_swin,
    'mmpretrain-vit': mmpretrain_vit,
    'mmseg-swin': mmseg_swin,
    'mmseg-vit': mmseg_vit,
    'timm-swin': timm_swin,
    'timm-vit': timm_vit,
    'timm-deit-distilled': timm_deit_distilled,
}


@pytest.fixture(params=sorted(FAMILIES))
def family(request):
    """``(model, images, expected_tap_grids)`` of each family in turn."""
    torch.manual_seed(0)
    return FAMILIES[request.param]()
