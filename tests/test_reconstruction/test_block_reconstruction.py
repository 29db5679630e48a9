"""Block reconstruction on tiny random models: the loss falls, the learned
rounding stays next to nearest rounding, a stopped run resumes to the same
result, the float weights stay untouched."""
import copy

import pytest
import torch

from clamp_mm.models import find_adapter
from clamp_mm.quant import iter_quantizers, set_quant_mode
from clamp_mm.reconstruction import BlockReconstructionCalibrator
from clamp_mm.reconstruction.block_optimiser import weight_layers
from reconstruction_models import FACTORIES, W4A4, quantized_tiny

FAST = dict(iterations=40, rounding_lr=1e-2, scale_lr=3e-3,
            progress_bar=False, plots=False, log_interval=10)


def _calibrate(quantized, images, **fields):
    calibrator = BlockReconstructionCalibrator(**dict(FAST, **fields))
    return calibrator.calibrate(quantized, images)


def _quantizer_buffers(model):
    return {name: {key: value.clone() for key, value in q._buffers.items()
                   if value is not None}
            for name, q in iter_quantizers(model)}


@pytest.mark.parametrize('family', sorted(FACTORIES))
def test_block_loss_falls_in_every_family(family):
    _, quantized, images = quantized_tiny(family, W4A4, num_images=4)
    result = _calibrate(quantized, images, drop_prob=0.0)
    assert result.finished
    assert result.total_blocks == len(find_adapter(quantized).blocks())
    for name, losses in result.block_losses.items():
        assert losses['final'] < losses['initial'], (name, losses)
    assert result.metrics['avg_weight_bits'] == pytest.approx(4.0)


@pytest.mark.parametrize('learn_weight_scale', [False, True])
def test_learned_rounding_is_within_one_step_of_nearest(learn_weight_scale):
    _, quantized, images = quantized_tiny('timm_vit', W4A4, num_images=4)
    before = {id(layer): (layer.weight_quantizer.scale.clone(),
                          layer.weight_quantizer.zero_point.clone())
              for _, block in find_adapter(quantized).blocks()
              for layer in weight_layers(block)}
    _calibrate(quantized, images, learn_weight_scale=learn_weight_scale)
    moved = total = 0
    for _, block in find_adapter(quantized).blocks():
        for layer in weight_layers(block):
            quantizer = layer.weight_quantizer
            assert quantizer.rounding_offset is not None
            # Nearest rounding on the observers' grid ...
            scale, zero_point = before[id(layer)]
            qmin, qmax = quantizer.integer_range
            weight = layer.weight.detach()
            shape = (-1, ) + (1, ) * (weight.dim() - 1)
            ratio = weight / scale.view(shape) + zero_point.view(shape)
            nearest = torch.clamp(torch.round(ratio), qmin, qmax)
            # ... against the codes the quantizer now gives (its own step).
            codes = torch.round(quantizer(weight) /
                                quantizer.scale.view(shape) +
                                quantizer.zero_point.view(shape))
            assert (codes - nearest).abs().max() <= 1
            # Floor or ceil of w / s0: never further.
            assert ((codes >= torch.floor(ratio).clamp(qmin, qmax)) &
                    (codes <= torch.ceil(ratio).clamp(qmin, qmax))).all()
            if not learn_weight_scale:
                assert torch.equal(quantizer.scale, scale)
                inside = (ratio >= qmin) & (ratio <= qmax)
                error = (quantizer(weight) - weight).abs()
                step = scale.view(shape).expand_as(weight)
                assert (error[inside] <= step[inside] * 1.0001).all()
            moved += int((codes != nearest).sum())
            total += codes.numel()
    # Some weights were rounded the other way: the rounding was learned.
    assert 0 < moved < total


def test_float_weights_untouched_and_quantizers_off_is_float():
    float_model, quantized, images = quantized_tiny('timm_vit', W4A4)
    weights = {k: v.clone() for k, v in quantized.state_dict().items()
               if not k.endswith(('scale', 'zero_point', 'min_val',
                                  'max_val', 'rounding_offset',
                                  'factor_exponent', 'ratio_exponent'))}
    _calibrate(quantized, images)
    after = quantized.state_dict()
    for key, value in weights.items():
        assert torch.equal(after[key], value), key
    assert all(p.grad is None for p in quantized.parameters())
    set_quant_mode(quantized, 'off')
    with torch.no_grad():
        # The RepQ-ViT folding is float-exact up to rounding.
        torch.testing.assert_close(quantized(images), float_model(images),
                                   rtol=1e-4, atol=1e-4)


def test_stopped_run_resumes_to_the_same_result(tmp_path):
    _, model_a, images = quantized_tiny('timm_vit', W4A4, num_images=4)
    # A rerun starts from a freshly calibrated model, as the stopped one did.
    stopped, model_b = copy.deepcopy(model_a), copy.deepcopy(model_a)
    # QDrop on: its masks come from the saved random generator too.
    whole = _calibrate(model_a, images, drop_prob=0.5)
    first = _calibrate(stopped, images, work_dir=str(tmp_path),
                       stop_after_blocks=1, drop_prob=0.5)
    assert not first.finished and first.blocks_done == 1
    rest = _calibrate(model_b, images, work_dir=str(tmp_path), drop_prob=0.5)
    assert rest.finished and rest.blocks_done == whole.blocks_done
    expected, found = _quantizer_buffers(model_a), _quantizer_buffers(model_b)
    assert expected.keys() == found.keys()
    for name in expected:
        assert expected[name].keys() == found[name].keys(), name
        for key in expected[name]:
            assert torch.equal(expected[name][key], found[name][key]), \
                (name, key)
    assert rest.block_losses == whole.block_losses
    assert (tmp_path / 'reconstruction_result.json').is_file()


def test_state_of_another_run_is_refused(tmp_path):
    _, model, images = quantized_tiny('timm_vit', W4A4, num_images=4)
    _calibrate(copy.deepcopy(model), images, work_dir=str(tmp_path),
               stop_after_blocks=1)
    with pytest.raises(ValueError, match='iterations: saved 40, now 41'):
        _calibrate(model, images, work_dir=str(tmp_path), iterations=41)


def test_zero_iterations_keep_the_observers_solution():
    _, quantized, images = quantized_tiny('timm_vit', W4A4, num_images=4)
    with torch.no_grad():
        before = quantized(images)
    _calibrate(quantized, images, iterations=0)
    with torch.no_grad():
        torch.testing.assert_close(quantized(images), before)
