"""Per-layer sensitivity: one layer quantized at a time."""
import torch

from clamp_mm.quant import iter_quantizers, set_quant_mode
from clamp_mm.report import ALL_LAYERS, layer_sensitivity, quantizers_by_layer


def test_one_row_per_quantized_layer_then_the_whole_model(quantized_vit):
    adapter, images = quantized_vit
    layers = quantizers_by_layer(adapter.model)
    rows = layer_sensitivity(adapter, images, progress=False)
    assert [row['layer'] for row in rows] == list(layers) + [ALL_LAYERS]
    # Every active quantizer belongs to exactly one layer row.
    listed = [name for row in rows[:-1] for name in row['quantizers']]
    active = [name for name, q in iter_quantizers(adapter.model)
              if q.mode == 'quantize']
    assert sorted(listed) == sorted(active) == sorted(rows[-1]['quantizers'])
    assert all(row['layer'] == name.rpartition('.')[0]
               for row in rows[:-1] for name in row['quantizers'])


def test_errors_are_measured_against_fp(quantized_vit):
    adapter, images = quantized_vit
    rows = layer_sensitivity(adapter, images, progress=False)
    with torch.no_grad():
        quantized = adapter.forward_images(images)
        set_quant_mode(adapter.model, 'off')
        fp = adapter.forward_images(images)
        set_quant_mode(adapter.model, 'quantize')
    whole = rows[-1]
    expected = float((quantized - fp).norm() / fp.norm())
    assert abs(whole['output_error'] - expected) < 1e-6
    agreement = 100 * float((quantized.argmax(-1) == fp.argmax(-1)).float()
                            .mean())
    assert whole['top1_agreement'] == agreement
    assert whole['top1_drop'] == 100 - agreement
    assert all(row['output_error'] > 0 for row in rows)


def test_fewer_bits_in_a_layer_means_more_error(quantized_vit):
    adapter, images = quantized_vit
    layer = 'blocks.1.mlp.fc1'
    assert layer in quantizers_by_layer(adapter.model)
    weight = adapter.model.get_submodule(layer).weight_quantizer

    def error_of_layer():
        rows = layer_sensitivity(adapter, images, progress=False)
        return next(r['output_error'] for r in rows if r['layer'] == layer)

    weight.set_bits(8)
    at_8_bits = error_of_layer()
    weight.set_bits(2)
    at_2_bits = error_of_layer()
    assert at_2_bits > 2 * at_8_bits


def test_modes_restored_and_nothing_recalibrated(quantized_vit):
    adapter, images = quantized_vit
    quantizers = dict(iter_quantizers(adapter.model))
    next(iter(quantizers.values())).mode = 'off'
    modes = {name: q.mode for name, q in quantizers.items()}
    scales = {name: q.scale.clone() for name, q in quantizers.items()}
    rows = layer_sensitivity(adapter, images, progress=False)
    assert {name: q.mode for name, q in quantizers.items()} == modes
    assert all(torch.equal(q.scale, scales[name])
               for name, q in quantizers.items())
    # The quantizer left off is no layer's.
    off = next(iter(quantizers))
    assert off not in [n for row in rows for n in row['quantizers']]
