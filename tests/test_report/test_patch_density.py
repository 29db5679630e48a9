"""Patch-similarity densities of image sets."""
import torch

from clamp_mm.quant import iter_quantizers
from clamp_mm.report import gaussian_noise_like, patch_similarity_histograms
from clamp_mm.report.patch_density import NUM_BINS


def test_densities_per_layer_and_set(quantized_vit):
    adapter, images = quantized_vit
    noise = gaussian_noise_like(images)
    data = patch_similarity_histograms(
        adapter, {'synthetic': images, 'same': images.clone(),
                  'gaussian noise': noise}, batch_size=3)
    assert data['layers'] == [tap.name for tap in adapter.token_taps()]
    assert len(data['bin_edges']) == NUM_BINS + 1
    width = 2 / NUM_BINS
    for per_layer in data['densities'].values():
        assert len(per_layer) == len(data['layers'])
        for density in per_layer:
            assert abs(sum(density) * width - 1) < 1e-6
    # Batching does not change a histogram; other images do.
    assert data['densities']['synthetic'] == data['densities']['same']
    assert data['densities']['synthetic'] != data['densities'][
        'gaussian noise']
    assert data['num_images'] == {'synthetic': 8, 'same': 8,
                                  'gaussian noise': 8}


def test_fp_model_is_measured_and_modes_restored(quantized_vit):
    adapter, images = quantized_vit
    quantized = patch_similarity_histograms(adapter, {'x': images})
    for _, quantizer in iter_quantizers(adapter.model):
        assert quantizer.mode == 'quantize'
        quantizer.set_bits(2)  # a different quantized model, same FP one
    again = patch_similarity_histograms(adapter, {'x': images})
    assert quantized == again


def test_noise_is_seeded():
    images = torch.zeros(2, 3, 4, 4)
    assert torch.equal(gaussian_noise_like(images),
                       gaussian_noise_like(images))
    assert not torch.equal(gaussian_noise_like(images, 1),
                           gaussian_noise_like(images))
