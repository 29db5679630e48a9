"""OpenMMLab specifics: the explicit MultiheadAttention of mmseg's ViT, and
the backbone-only scope inside a detector and a segmentor."""
import copy
import os.path as osp

import pytest
import torch
from torch import nn

from clamp_mm.models import ExplicitMultiheadAttention, find_adapter
from clamp_mm.quant import (QuantConv2d, QuantizerFactory, QuantLinear,
                            QuantRecipe, TensorQuantizer, quantize)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.mark.parametrize('batch_first', [False, True])
def test_explicit_attention_matches_nn_multihead_attention(batch_first):
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(16, 4, batch_first=batch_first).eval()
    explicit = ExplicitMultiheadAttention.from_float(
        copy.deepcopy(reference)).eval()
    x = torch.randn(3, 7, 16)  # (L, B, E) or (B, L, E)
    length = x.shape[1] if batch_first else x.shape[0]
    batch = x.shape[0] if batch_first else x.shape[1]
    attn_mask = torch.rand(length, length) > 0.7
    attn_mask.fill_diagonal_(False)
    padding = torch.zeros(batch, length, dtype=torch.bool)
    padding[0, -2:] = True
    with torch.no_grad():
        for kwargs in (dict(), dict(attn_mask=attn_mask),
                       dict(attn_mask=attn_mask.float() * -3.0),
                       dict(key_padding_mask=padding)):
            torch.testing.assert_close(
                explicit(x, x, x, **kwargs)[0],
                reference(x, x, x, **kwargs)[0])


def test_explicit_attention_state_dict_both_ways():
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(16, 4)
    factory = QuantizerFactory(QuantRecipe())
    explicit = ExplicitMultiheadAttention.from_float(
        nn.MultiheadAttention(16, 4), factory)
    explicit.load_state_dict(reference.state_dict(), strict=True)
    float_keys = set(reference.state_dict())
    assert float_keys <= set(explicit.state_dict())
    assert isinstance(explicit.in_proj, QuantLinear)
    assert isinstance(explicit.q_quantizer, TensorQuantizer)
    back = nn.MultiheadAttention(16, 4)
    float_part = {
        key: value
        for key, value in explicit.state_dict().items() if key in float_keys
    }
    back.load_state_dict(float_part, strict=True)
    x = torch.randn(5, 2, 16)
    with torch.no_grad():
        torch.testing.assert_close(back(x, x, x)[0], reference(x, x, x)[0])
        torch.testing.assert_close(explicit(x, x, x)[0], reference(x, x, x)[0])


def test_explicit_attention_rejects_cross_attention():
    explicit = ExplicitMultiheadAttention(8, 2)
    with pytest.raises(NotImplementedError, match='self-attention'):
        explicit(torch.randn(3, 1, 8), torch.randn(4, 1, 8))


def _build_from_config(package, path):
    pytest.importorskip('mmcv.ops')
    registry = pytest.importorskip(f'{package}.registry')
    from mmengine.config import Config
    config = Config.fromfile(osp.join(REPO, path))
    model = registry.MODELS.build(config.model)
    model.eval()
    return model


@pytest.mark.parametrize('package,path,family', [
    ('mmdet', 'configs/dense/mask-rcnn_swin-nano_fpn_composite-128.py',
     'mmdet-swin'),
    ('mmseg', 'configs/dense/upernet_swin-nano_composite-128.py',
     'mmseg-swin'),
])
def test_dense_models_quantize_backbone_only(package, path, family):
    model = _build_from_config(package, path)
    adapter = find_adapter(model)
    assert adapter.family == family and adapter.backbone() is model.backbone
    assert not adapter.has_head
    assert all(name.startswith('backbone.') for name, _ in adapter.blocks())
    images = torch.randn(1, 3, 128, 128)
    reference = copy.deepcopy(model)
    quantize(model, dict(weight_bits=8, act_bits=8),
             lambda m: adapter.forward_images(images))
    for name, module in model.named_modules():
        quantized = isinstance(module, (QuantLinear, QuantConv2d))
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            assert quantized == name.startswith('backbone.'), name
    with torch.no_grad():
        features = adapter.forward_images(images)
        expected = reference.backbone(images)
    assert len(features) == len(expected)
    for feature, float_feature in zip(features, expected):
        assert feature.shape == float_feature.shape
        similarity = nn.functional.cosine_similarity(feature.flatten(),
                                                     float_feature.flatten(),
                                                     dim=0)
        assert similarity > 0.99


def test_model_scope_reaches_neck_and_heads():
    model = _build_from_config(
        'mmdet', 'configs/dense/mask-rcnn_swin-nano_fpn_composite-128.py')
    quantize(model, dict(scope='model'))
    assert isinstance(model.neck.fpn_convs[0].conv, QuantConv2d)
    assert isinstance(model.roi_head.bbox_head.fc_cls, QuantLinear)
