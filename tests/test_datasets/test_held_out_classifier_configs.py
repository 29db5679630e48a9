"""The two classifiers trained with the val split held out: configs build,
a forward runs, the adapter finder picks the intended family, and the data
splits keep the val images out of training.

Random initialisation only (fast); the shipped weights are checked by
test_held_out_classifier_checkpoints.py.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from clamp_mm.datasets.fashion_mnist import (FASHION_MNIST_MEAN,
                                             FASHION_MNIST_STD)
from clamp_mm.engine.model_config import runner_model_config
from clamp_mm.engine.target_module import resolve_target

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
pytest.importorskip('timm')
torch.set_num_threads(1)


def build(name):
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/fashion_mnist', f'{name}_fmnist.py'))
    torch.manual_seed(0)
    return cfg, MODELS.build(runner_model_config(cfg)).eval()


@pytest.mark.parametrize('name', ['timm_vit', 'vit_deep'])
def test_trains_on_55k_validates_on_val_scores_on_test(name):
    cfg, _ = build(name)
    assert cfg.train_dataloader.dataset.split == 'train55k'
    assert cfg.val_dataloader.dataset.split == 'val'
    assert cfg.test_dataloader.dataset.split == 'test'
    # The one validation is the last epoch's (what the tool records).
    assert cfg.train_cfg.val_interval == cfg.train_cfg.max_epochs


def test_timm_vit_is_a_timm_vision_transformer_of_the_issue_shape():
    from timm.models.vision_transformer import VisionTransformer
    _, classifier = build('timm_vit')
    name, model, adapter = resolve_target(classifier)
    # The quantizers get the timm model itself, through the timm adapter.
    assert name == 'model' and type(model) is VisionTransformer
    assert adapter.family == 'timm-vit'
    assert model.embed_dim == 96 and len(model.blocks) == 6
    assert model.blocks[0].attn.num_heads == 3
    assert model.blocks[0].mlp.fc1.out_features == 3 * 96
    assert model.patch_embed.patch_size == (4, 4)
    assert adapter.input_size == (32, 32) and model.num_classes == 10
    # The adapter normalises calibration and test images as the training
    # pipeline did (the Fashion-MNIST statistics, not timm's ImageNet ones).
    mean, std = adapter.mean_std
    assert mean == pytest.approx(FASHION_MNIST_MEAN, abs=1e-3)
    assert std == pytest.approx(FASHION_MNIST_STD, abs=1e-3)
    images = torch.randn(2, 3, 32, 32)
    logits = adapter.forward_images(images)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    # The wrapper's forward is the timm model's forward.
    assert torch.equal(classifier(images, mode='tensor'), logits)


def test_vit_deep_is_deeper_and_narrower_with_mlp_ratio_2():
    _, classifier = build('vit_deep')
    name, model, adapter = resolve_target(classifier)
    assert name == '' and adapter.family == 'mmpretrain-vit'
    backbone = model.backbone
    assert backbone.embed_dims == 48 and len(backbone.layers) == 8
    assert backbone.layers[0].attn.num_heads == 3
    assert backbone.layers[0].ffn.layers[0][0].out_features == 96
    assert len(adapter.blocks()) == 8
    logits = adapter.forward_images(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


def test_quantize_works_on_the_timm_model():
    from clamp_mm.quant import quantize
    _, classifier = build('timm_vit')
    _, model, adapter = resolve_target(classifier)
    images = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        float_features = model.forward_features(images)
    quantize(model, dict(weight_bits=8, act_bits=8), lambda m: m(images))
    quantized_names = [n for n, _ in model.named_modules()
                       if n.endswith('weight_quantizer')]
    # Every block's qkv, proj, fc1 and fc2 carry weight quantizers.
    assert len(quantized_names) >= 4 * 6
    with torch.no_grad():
        quant_features = model.forward_features(images)
    assert not torch.equal(quant_features, float_features)
    # W8/A8 stays close to float on the final tokens (a random head's
    # near-zero logits would magnify the error; the features do not).
    error = (quant_features - float_features).norm() / float_features.norm()
    assert error < 0.1
