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
    model = vision_transformer.VisionTransformer(
        img_size=32, patch_size=4, embed_dim=32, depth=2, num_heads=2,
        num_classes=10)
    _realistic_prefix_tokens(model)
    return model.eval(), torch.randn(4, 3, 32, 32), [(8, 8, 32)] * 2


def timm_deit_distilled():
    deit = pytest.importorskip('timm.models.deit')
    model = deit.VisionTransformerDistilled(
        img_size=32, patch_size=4, embed_dim=32, depth=2, num_heads=2,
        num_classes=10)
    _realistic_prefix_tokens(model)
    return model.eval(), torch.randn(4, 3, 32, 32), [(8, 8, 32)] * 2


def timm_swin():
    swin = pytest.importorskip('timm.models.swin_transformer')
    model = swin.SwinTransformer(
        img_size=32, patch_size=2, embed_dim=16, depths=(2, 2),
        num_heads=(2, 2), window_size=4, num_classes=10, drop_path_rate=0.)
    return model.eval(), torch.randn(2, 3, 32, 32), [(16, 16, 16)] * 2 + [
        (8, 8, 32)
    ] * 2


FAMILIES = {
    'timm-swin': timm_swin,
    'timm-vit': timm_vit,
    'timm-deit-distilled': timm_deit_distilled,
}


@pytest.fixture(params=sorted(FAMILIES))
def family(request):
    """``(model, images, expected_tap_grids)`` of each family in turn."""
    torch.manual_seed(0)
    return FAMILIES[request.param]()
