"""PSAQ-ViT v1 as its authors ran it: taps, loss terms, jitter, schedule."""
import math

import numpy as np
import pytest
import torch

from clamp_mm.registry import GENERATORS
from clamp_mm.synth import PSAQv1OfficialGenerator, TokenGridCollector
from clamp_mm.synth.optimising_generator import ColourSpace
from clamp_mm.synth.psaq_v1_official import (official_similarity_entropy,
                                             official_total_variation)

TINY_OFFICIAL = dict(batch_size=3, iterations=4, progress=False,
                     log_interval=0, warmup_iterations=2)


def _timm_vit_adapter():
    from timm.models.vision_transformer import VisionTransformer

    from clamp_mm.models import find_adapter
    torch.manual_seed(0)
    model = VisionTransformer(img_size=32, patch_size=8, embed_dim=16,
                              depth=2, num_heads=2, num_classes=10).eval()
    return find_adapter(model)


def _reference_attn_v(attention, x):
    """attn @ v of a timm Attention, computed by hand: (B, heads, N, d)."""
    batch, length, channels = x.shape
    qkv = attention.qkv(x).reshape(batch, length, 3, attention.num_heads,
                                   channels // attention.num_heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    scores = (q * attention.scale) @ k.transpose(-2, -1)
    return scores.softmax(-1) @ v


def test_attention_value_taps_read_head_averaged_attn_v_without_cls():
    adapter = _timm_vit_adapter()
    images = torch.randn(2, 3, 32, 32)
    inputs = {}
    handles = [block.attn.register_forward_hook(
        lambda module, args, output, index=index: inputs.setdefault(
            index, args[0])) for index, block in
        enumerate(adapter.model.blocks)]
    with TokenGridCollector(adapter.attention_value_taps()) as collector, \
            torch.no_grad():
        adapter.forward_images(images)
    for handle in handles:
        handle.remove()
    assert len(collector.grids) == len(adapter.model.blocks)
    for index, grid in enumerate(collector.grids):
        attention = adapter.model.blocks[index].attn
        with torch.no_grad():
            expected = _reference_attn_v(attention, inputs[index])
        expected = expected.mean(dim=1)[:, 1:, :]  # the official reduction
        assert grid.shape == (2, 1, 16, 8)
        assert torch.allclose(grid[:, 0], expected, atol=1e-5)


def test_attention_value_taps_on_every_family(family_adapter):
    adapter, resolution = family_adapter
    images = torch.randn(2, 3, *(resolution or adapter.input_size))
    try:
        taps = adapter.attention_value_taps()
    except NotImplementedError as error:
        assert 'proj' in str(error)
        pytest.skip(f'{adapter.family}: {error}')
    with TokenGridCollector(taps) as collector, torch.no_grad():
        adapter.forward_images(images)
    assert len(collector.grids) == len(taps) >= 1
    for grid in collector.grids:
        assert grid.dim() == 4 and grid.shape[1] == 1
        # Sets split evenly into images (windows of the same image).
        assert grid.shape[0] % images.shape[0] == 0
        value = official_similarity_entropy(grid, images.shape[0])
        assert torch.isfinite(value)


def _numpy_entropy(samples_per_image, bandwidth=0.01, points=10):
    low = min(s.min() for s in samples_per_image)
    high = max(s.max() for s in samples_per_image)
    grid = np.linspace(low, high, points)
    values = []
    for samples in samples_per_image:
        density = np.array([
            np.mean(np.exp(-(x - samples)**2 / (2 * bandwidth**2))) /
            math.sqrt(2 * math.pi * bandwidth**2) for x in grid
        ]) + 1e-4
        values.append(np.trapz(-density * np.log(density), grid))
    return float(np.mean(values))


def test_official_entropy_matches_an_independent_computation():
    torch.manual_seed(0)
    sets = torch.randn(6, 1, 5, 4, dtype=torch.float64)  # 2 images x 3 sets
    samples = []
    for image in range(2):
        pooled = []
        for token_set in sets[3 * image:3 * image + 3, 0]:
            unit = token_set / token_set.norm(dim=-1, keepdim=True)
            pooled.append((unit @ unit.T).flatten().numpy())
        samples.append(np.concatenate(pooled))
    expected = _numpy_entropy(samples, bandwidth=0.1)
    got = official_similarity_entropy(sets, 2, bandwidth=0.1)
    assert float(got) == pytest.approx(expected, rel=1e-6)
    # Diverse tokens spread the similarity density: higher entropy than
    # nearly identical tokens.
    same = torch.ones(2, 1, 5, 4) + 1e-3 * torch.randn(2, 1, 5, 4)
    diverse = torch.randn(2, 1, 5, 4)
    assert official_similarity_entropy(diverse, 2, 0.1) > \
        official_similarity_entropy(same, 2, 0.1)


def test_official_total_variation():
    images = torch.randn(2, 3, 5, 6)
    expected = sum(float(torch.norm(d)) for d in (
        images[..., :, 1:] - images[..., :, :-1],
        images[..., 1:, :] - images[..., :-1, :],
        images[..., 1:, :-1] - images[..., :-1, 1:],
        images[..., :-1, :-1] - images[..., 1:, 1:]))
    assert float(official_total_variation(images)) == pytest.approx(
        expected, rel=1e-5)
    assert float(official_total_variation(torch.ones(1, 3, 4, 4))) == 0.0


def test_jitter_is_one_diagonal_roll_scaled_to_the_resolution():
    generator = PSAQv1OfficialGenerator(flip=False)
    pixels = torch.arange(32 * 32, dtype=torch.float32).view(1, 1, 32, 32)
    random = torch.Generator().manual_seed(0)
    offsets = set()
    for _ in range(60):
        view = generator.augment(pixels, 30, random)
        matches = [o for o in range(-4, 5) if torch.equal(
            view, torch.roll(pixels, shifts=(o, o), dims=(2, 3)))]
        assert len(matches) == 1, 'the view is a diagonal roll'
        offsets.add(matches[0])
    # 30 px at 224 is 4 px at 32: every offset in -4..4 occurs, no larger.
    assert offsets == set(range(-4, 5))
    unscaled = PSAQv1OfficialGenerator(flip=False, scale_to_resolution=False)
    view = unscaled.augment(pixels, 30, torch.Generator().manual_seed(1))
    assert view.shape == pixels.shape


def test_generator_runs_with_the_official_schedule():
    adapter = _timm_vit_adapter()
    generator = GENERATORS.build(dict(type='clamp_mm.PSAQv1OfficialGenerator',
                                      **TINY_OFFICIAL))
    images = generator.generate(adapter, 3)
    colour = ColourSpace(adapter, False, torch.device('cpu'))
    low, high = colour.low, colour.high
    assert images.shape == (3, 3, 32, 32)
    assert (images >= low - 1e-6).all() and (images <= high + 1e-6).all()
    again = GENERATORS.build(dict(type='clamp_mm.PSAQv1OfficialGenerator',
                                  **TINY_OFFICIAL)).generate(adapter, 3)
    assert torch.equal(images, again)
    log = generator.loss_log
    assert [entry['round'] for entry in log] == [0] * 4 + [1] * 4
    # Cosine schedule with warm-up, restarted every round: 0.1, 0.2, ...
    lrs = [entry['lr'] for entry in log]
    assert lrs[0] == pytest.approx(0.1) and lrs[1] == pytest.approx(0.2)
    assert lrs[4] == pytest.approx(0.1) and lrs[3] < 0.2
    assert {'similarity_entropy', 'output', 'total_variation'} <= set(log[0])
    # The TV term is |TV2 - target|, the target scaled from 32 x 3 x 224^2.
    assert all(entry['total_variation'] >= 0 for entry in log)
    scale = math.sqrt(3 * 3 * 32 * 32 / (32 * 3 * 224 * 224))
    target = generator._tv_target(images)
    assert 2500 * scale <= target <= 3000 * scale


def test_official_variant_has_no_pair_or_token_subsampling_fields():
    from clamp_mm.synth import PSAQv1Generator
    official = PSAQv1OfficialGenerator()
    config = official.get_config()
    # The official density uses every pair: no field that would do nothing.
    assert 'max_pairs' not in config and 'max_tokens' not in config
    assert not hasattr(official, 'pair_sampler')
    with pytest.raises(TypeError, match='max_pairs'):
        PSAQv1OfficialGenerator(max_pairs=10)
    # The earlier variant keeps them, and both share the round schedule.
    earlier = PSAQv1Generator(max_pairs=10)
    assert earlier.get_config()['max_pairs'] == 10
    assert official.jitter_of_round(0) == earlier.jitter_of_round(0) == 15
    assert official.jitter_of_round(5) == earlier.jitter_of_round(5) == 30
