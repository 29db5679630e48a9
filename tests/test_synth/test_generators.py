"""Tests of the generators of clamp_mm.synth."""
import copy

import numpy as np

import pytest
import torch

from clamp_mm.registry import GENERATORS
from clamp_mm.synth import (ClampGenerator, NonFiniteLossError,
                            PSAQv1Generator, PSAQv2Generator,
                            RealDataGenerator)
from clamp_mm.synth.optimising_generator import ColourSpace

#: A few steps of every generator, fast enough for a unit test.
TINY = dict(batch_size=3, iterations=3, progress=False, log_interval=0,
            warmup_iterations=1)
TINY_PSAQ = dict(TINY, num_density_points=21, bandwidth=0.1, num_rounds=2,
                 max_tokens=64)
GENERATOR_CONFIGS = [
    dict(type='clamp_mm.GaussianGenerator'),
    dict(type='clamp_mm.ClampGenerator', **TINY),
    dict(type='clamp_mm.PSAQv1Generator', **TINY_PSAQ),
    dict(type='clamp_mm.PSAQv2Generator', **TINY_PSAQ),
]


def _pixel_range(adapter):
    """Per-channel (low, high) of valid normalised pixels, (1, 3, 1, 1)."""
    colour = ColourSpace(adapter, False, torch.device('cpu'))
    return colour.low, colour.high


@pytest.mark.parametrize('config', GENERATOR_CONFIGS,
                         ids=[c['type'] for c in GENERATOR_CONFIGS])
def test_every_generator_runs_on_every_family(config, family_adapter):
    adapter, resolution = family_adapter
    generator = GENERATORS.build(config)
    images = generator.generate(adapter, 4, resolution)
    height, width = resolution or adapter.input_size
    assert images.shape == (4, 3, height, width)
    assert torch.isfinite(images).all() and not images.requires_grad
    again = GENERATORS.build(config).generate(adapter, 4, resolution)
    assert torch.equal(images, again), 'same seed must give same images'
    if hasattr(generator, 'iterations'):
        low, high = _pixel_range(adapter)
        assert (images >= low - 1e-6).all() and (images <= high + 1e-6).all()
        if not adapter.has_head:
            assert 'output' not in generator.loss_log[0]
        rounds = generator.num_rounds
        # 4 images in batches of 3: two batches per round.
        assert len(generator.loss_log) == rounds * 2 * 3


def test_generation_at_another_resolution(vit_adapter):
    generator = ClampGenerator(**TINY)
    images = generator.generate(vit_adapter, 2, (48, 32))
    assert images.shape == (2, 3, 48, 32)


def test_clamp_contrastive_loss_falls_during_generation(vit_adapter):
    # A freshly initialised ViT attends almost uniformly, so every token of
    # an MHSA output is nearly the same vector and the loss is flat; sharper
    # queries and keys give it the token diversity a trained model has.
    with torch.no_grad():
        for block in vit_adapter.model.blocks:
            block.attn.qkv.weight[:2 * 16].mul_(4)
    generator = ClampGenerator(batch_size=4, iterations=40, progress=False,
                               log_interval=0, warmup_iterations=5,
                               output_weight=0.0, tv_weight=0.0, jitter=0,
                               flip=False)
    generator.generate(vit_adapter, 4)
    contrastive = [entry['contrastive'] for entry in generator.loss_log]
    first, last = sum(contrastive[:5]) / 5, sum(contrastive[-5:]) / 5
    assert last < 0.5 * first, (first, last)


def test_clamp_uses_random_labels_and_adaptive_term(vit_adapter):
    quantized = copy.deepcopy(vit_adapter)
    with torch.no_grad():
        for parameter in quantized.model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    generator = ClampGenerator(**TINY)
    generator.generate(vit_adapter, 4, quantized_model=quantized)
    assert generator.targets.shape == (4, )
    assert {'contrastive', 'output', 'adaptive',
            'total_variation'} <= set(generator.loss_log[0])
    assert all(entry['adaptive'] <= 0 for entry in generator.loss_log)


def test_refresh_updates_images_and_restores_models(vit_adapter):
    quantized = copy.deepcopy(vit_adapter)
    with torch.no_grad():
        quantized.model.head.weight.mul_(0.5)
    vit_adapter.model.train()
    generator = ClampGenerator(**TINY)
    images = torch.randn(4, 3, 32, 32)
    refreshed = generator.refresh(images, vit_adapter, quantized, 2)
    assert refreshed.shape == images.shape
    assert not torch.equal(refreshed, images)
    assert len(generator.loss_log) == 2 * 2 and 'adaptive' in \
        generator.loss_log[0]
    # frozen() restores mode and requires_grad afterwards.
    assert vit_adapter.model.training
    assert all(p.requires_grad for p in vit_adapter.model.parameters())


def test_psaq_v1_rounds_change_jitter(vit_adapter):
    generator = PSAQv1Generator(**TINY_PSAQ)
    assert generator.num_rounds == 2 and generator.lr_schedule == 'constant'
    assert [generator.jitter_of_round(r) for r in range(3)] == [15, 30, 30]
    generator.generate(vit_adapter, 2)
    assert {'similarity_entropy', 'output'} <= set(generator.loss_log[0])


def test_psaq_v2_is_label_free(vit_adapter):
    generator = PSAQv2Generator(**TINY_PSAQ)
    generator.generate(vit_adapter, 2, quantized_model=copy.deepcopy(
        vit_adapter))
    assert generator.targets is None
    assert 'output' not in generator.loss_log[0]
    assert 'adaptive' in generator.loss_log[0]


class _NaNAfter:
    """Forward hook that makes the logits NaN from the n-th call on."""

    def __init__(self, healthy_calls):
        self.calls, self.healthy_calls = 0, healthy_calls

    def __call__(self, module, args, output):
        self.calls += 1
        if self.calls > self.healthy_calls:
            return output * float('nan')
        return output


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_images(
        vit_adapter):
    generator = ClampGenerator(batch_size=2, iterations=6, progress=False,
                               log_interval=0, warmup_iterations=1)
    # One probe forward for the label count, then 2 batches x 6 steps: the
    # NaN hits the 4th step of the second batch.
    hook = vit_adapter.model.head.register_forward_hook(
        _NaNAfter(1 + 6 + 3))
    with pytest.raises(NonFiniteLossError, match='not finite at iteration 3'
                       ) as caught:
        generator.generate(vit_adapter, 4)
    hook.remove()
    error = caught.value
    assert error.iteration == 3 and error.terms['total'] != error.terms[
        'total']
    assert error.images.shape == (4, 3, 32, 32)
    assert torch.isfinite(error.images).all()
    assert error.images is generator.last_good_images
    # The log ends with the last finite step: the 3rd of the second batch.
    logged = [(e['batch'], e['iteration']) for e in generator.loss_log]
    assert logged[-1] == (1, 2)
    # The finished first batch is kept as a clean run makes it; the second
    # batch is kept as optimised by its 3 finite steps (not the noise).
    clean = ClampGenerator(batch_size=2, iterations=6, progress=False,
                           log_interval=0, warmup_iterations=1)
    clean_images = clean.generate(vit_adapter, 4)
    assert torch.equal(error.images[:2], clean_images[:2])
    random = torch.Generator().manual_seed(0)
    torch.randn(2, 3, 32, 32, generator=random)
    second_batch_noise = torch.randn(2, 3, 32, 32, generator=random)
    assert not torch.equal(error.images[2:], second_batch_noise)
    assert not torch.equal(error.images[2:], clean_images[2:])


def test_real_data_generator_normalises_and_resizes(vit_adapter):
    raw = torch.randint(0, 256, (10, 1, 16, 16), dtype=torch.uint8)
    generator = RealDataGenerator(images=raw, seed=1)
    images = generator.generate(vit_adapter, 4)
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32
    low, high = _pixel_range(vit_adapter)
    assert (images >= low - 1e-5).all() and (images <= high + 1e-5).all()
    assert torch.equal(images, RealDataGenerator(images=raw, seed=1).generate(
        vit_adapter, 4))
    samples = [dict(inputs=torch.randn(3, 32, 32)) for _ in range(6)]
    from_dataset = RealDataGenerator(dataset=samples, shuffle=False).generate(
        vit_adapter, 3)
    assert torch.equal(from_dataset[1], samples[1]['inputs'])
    with pytest.raises(ValueError, match='num_images=20 is out of range'):
        generator.generate(vit_adapter, 20)
    with pytest.raises(ValueError, match='exactly one source'):
        RealDataGenerator()


def test_invalid_hyper_parameters_are_named():
    with pytest.raises(ValueError, match='temperature=0'):
        ClampGenerator(temperature=0)
    with pytest.raises(ValueError, match="lr_schedule='linear'"):
        ClampGenerator(lr_schedule='linear')


def test_swin_families_get_the_swin_learning_rate(vit_adapter):
    generator = ClampGenerator()
    assert generator.peak_lr(vit_adapter) == 0.2
    vit_adapter.family = 'timm-swin'
    assert generator.peak_lr(vit_adapter) == 0.25


def _quantized_copy(model, calibration):
    from clamp_mm.models import find_adapter
    from clamp_mm.quant import quantize
    quantized = copy.deepcopy(model)
    quantize(quantized, dict(weight_bits=4, act_bits=8),
             lambda m: find_adapter(m).forward_images(calibration))
    return quantized


def test_adaptive_terms_against_a_real_quantized_model(tiny_vit):
    pytest.importorskip('clamp_mm.models.timm_vit')
    from clamp_mm.models import find_adapter
    from clamp_mm.quant import iter_quantizers
    model = tiny_vit
    try:
        find_adapter(model)
    except TypeError:
        pytest.skip('no timm ViT adapter registered')
    quantized = _quantized_copy(model, torch.randn(4, 3, 32, 32))
    scales_before = {
        name: quantizer.scale.clone()
        for name, quantizer in iter_quantizers(quantized)
        if quantizer.mode == 'quantize'
    }
    images = ClampGenerator(**TINY).generate(model, 3,
                                             quantized_model=quantized)
    assert torch.isfinite(images).all()
    generator = PSAQv2Generator(**TINY_PSAQ)
    generator.generate(model, 3, quantized_model=quantized)
    assert all(np.isfinite(entry['adaptive']) for entry in generator.loss_log)
    # Re-calibrated on the new images after each round: activation scales
    # moved, every quantizer is back in 'quantize' mode.
    after = dict(iter_quantizers(quantized))
    assert all(after[name].mode == 'quantize' for name in scales_before)
    assert any(not torch.equal(after[name].scale, scale)
               for name, scale in scales_before.items())


def test_real_data_generator_from_a_dataset_config(vit_adapter):
    pytest.importorskip('mmpretrain')
    import os.path as osp
    if not osp.isdir('/usr/share/datasets/fashion-mnist'):
        pytest.skip('Fashion-MNIST is not installed')
    generator = RealDataGenerator(
        dataset=dict(type='clamp_mm.FashionMNIST', split='test'), seed=0)
    images = generator.generate(vit_adapter, 3)
    assert images.shape == (3, 3, 32, 32)
    # Grey images: the three channels carry the same pixels.
    mean, std = vit_adapter.mean_std
    pixels = images * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(
        mean).view(1, 3, 1, 1)
    torch.testing.assert_close(pixels[:, 0], pixels[:, 1])
    assert pixels.min() >= -1e-3 and pixels.max() <= 255 + 1e-3


def test_psaq_v2_refresh_leaves_the_quantized_model_alone(tiny_vit):
    pytest.importorskip('clamp_mm.models.timm_vit')
    from clamp_mm.quant import iter_quantizers
    quantized = _quantized_copy(tiny_vit, torch.randn(4, 3, 32, 32))
    before = {name: q.scale.clone() for name, q in iter_quantizers(quantized)
              if q.mode == 'quantize'}
    generator = PSAQv2Generator(**TINY_PSAQ)
    images = generator.refresh(torch.randn(2, 3, 32, 32), tiny_vit,
                               quantized, 2)
    assert images.shape == (2, 3, 32, 32)
    after = dict(iter_quantizers(quantized))
    assert all(torch.equal(after[name].scale, scale)
               for name, scale in before.items())


def _pixels_0_255(images, adapter):
    mean, std = (torch.tensor(values).view(1, -1, 1, 1)
                 for values in adapter.mean_std)
    return images * std + mean


@pytest.mark.parametrize('config', GENERATOR_CONFIGS[1:],
                         ids=[c['type'] for c in GENERATOR_CONFIGS[1:]])
def test_grayscale_generation_keeps_the_three_channels_equal(
        config, vit_adapter):
    mean, std = vit_adapter.mean_std
    # The map must hold for per-channel normalisations too.
    assert len(set(mean)) == 3 and len(set(std)) == 3
    generator = GENERATORS.build(dict(config, grayscale=True, lr=5.0))
    images = generator.generate(vit_adapter, 4)
    pixels = _pixels_0_255(images, vit_adapter)
    assert torch.allclose(pixels[:, :1].expand_as(pixels), pixels, atol=1e-3)
    # lr 5 pushes many pixels against the bounds: clamped to 0..255.
    assert pixels.min() >= -1e-3 and pixels.max() <= 255 + 1e-3
    assert (pixels < 1).any() or (pixels > 254).any()
    refreshed = generator.refresh(images, vit_adapter, iterations=2)
    assert not torch.equal(refreshed, images)
    pixels = _pixels_0_255(refreshed, vit_adapter)
    assert torch.allclose(pixels[:, :1].expand_as(pixels), pixels, atol=1e-3)
    colour = _pixels_0_255(
        GENERATORS.build(config).generate(vit_adapter, 4), vit_adapter)
    assert (colour[:, 0] - colour[:, 1]).abs().max() > 1
