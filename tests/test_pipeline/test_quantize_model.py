"""clamp_mm.quantize_model: the whole pipeline without a Runner, on CPU."""
import copy
import os.path as osp

import pytest
import torch

import clamp_mm
from clamp_mm.models import calibrate_observers, find_adapter
from clamp_mm.pipeline import (SYNTHETIC_IMAGES_FILE, QuantizationResult,
                               cost_report, float_cost_report)
from clamp_mm.quant import iter_quantizers
from clamp_mm.search import EvolutionaryCalibrator, SearchConfig
from clamp_mm.synth import ClampGenerator

torch.set_num_threads(1)


def tiny_vit():
    from timm.models.vision_transformer import VisionTransformer
    torch.manual_seed(0)
    return VisionTransformer(img_size=32, patch_size=8, embed_dim=16,
                             depth=2, num_heads=2, mlp_ratio=2,
                             num_classes=10).eval()


def fast_generator(seed=0):
    return ClampGenerator(iterations=2, warmup_iterations=0, batch_size=4,
                          seed=seed, progress=False)


def quantizer_state(model):
    return {name: (quantizer.bits, quantizer.mode, quantizer.scale.clone())
            for name, quantizer in iter_quantizers(model)}


def test_quantize_model_runs_every_stage_and_reports_them(tmp_path):
    model = tiny_vit()
    float_logits = model(torch.zeros(1, 3, 32, 32))
    result = clamp_mm.quantize_model(
        model, dict(weight_bits=4, act_bits=8), fast_generator(),
        EvolutionaryCalibrator(SearchConfig.fast()), num_images=4,
        work_dir=str(tmp_path))

    assert isinstance(result, QuantizationResult) and result.model is model
    assert result.images.shape == (4, 3, 32, 32)
    assert set(result.stage_seconds) == {'synthesize', 'calibrate', 'search'}
    assert all(seconds >= 0 for seconds in result.stage_seconds.values())
    modes = {quantizer.mode for _, quantizer in iter_quantizers(model)}
    assert modes == {'quantize'}
    # Quantized for real: the outputs moved away from the float model's.
    assert not torch.allclose(model(torch.zeros(1, 3, 32, 32)),
                              float_logits)
    assert result.search is not None and result.search.finished
    assert result.search_record()['metrics'] == result.search.metrics
    assert result.label == 'W4/A8'
    # 4-bit weights: smaller than the float model.
    assert result.cost['size_mb'] < result.cost['float_size_mb']
    assert result.cost['resolution'] == [32, 32]
    assert result.metadata['num_images'] == 4
    assert osp.isfile(osp.join(tmp_path, SYNTHETIC_IMAGES_FILE))


def test_the_image_cache_is_reused_only_for_the_same_request(tmp_path):
    first = clamp_mm.quantize_model(tiny_vit(), generator=fast_generator(),
                                    calibrator=None, num_images=4,
                                    work_dir=str(tmp_path))
    assert not first.reused_images

    same = fast_generator()
    same.generate = _forbidden
    again = clamp_mm.quantize_model(tiny_vit(), generator=same,
                                    calibrator=None, num_images=4,
                                    work_dir=str(tmp_path))
    assert again.reused_images
    assert torch.equal(again.images, first.images)

    # Another seed is another request: generated anew, not reused.
    other = clamp_mm.quantize_model(tiny_vit(), generator=fast_generator(1),
                                    calibrator=None, num_images=4,
                                    work_dir=str(tmp_path))
    assert not other.reused_images
    assert not torch.equal(other.images, first.images)

    # Other weights are another request too.
    changed = tiny_vit()
    with torch.no_grad():
        changed.head.bias.add_(1.0)
    retrained = clamp_mm.quantize_model(changed, generator=fast_generator(1),
                                        calibrator=None, num_images=4,
                                        work_dir=str(tmp_path))
    assert not retrained.reused_images


def test_given_images_without_calibrator_equal_observer_calibration():
    images = torch.randn(6, 3, 32, 32)
    by_pipeline = tiny_vit()
    result = clamp_mm.quantize_model(by_pipeline, dict(act_bits=4),
                                     calibrator=None, images=images,
                                     calibration_batch_size=4)
    by_hand = calibrate_observers(tiny_vit(), dict(act_bits=4), images, 4)
    assert result.search is None and result.metadata == {}
    assert 'synthesize' not in result.stage_seconds
    want, got = quantizer_state(by_hand), quantizer_state(by_pipeline)
    assert want.keys() == got.keys()
    for name in want:
        assert want[name][:2] == got[name][:2], name
        assert torch.equal(want[name][2], got[name][2]), name


def test_callbacks_see_the_images_then_the_calibrated_model():
    seen = []
    images = torch.randn(4, 3, 32, 32)

    def on_images(batch, adapter):
        modes = {q.mode for _, q in iter_quantizers(adapter.model)}
        seen.append(('images', batch.shape, modes))

    def on_calibrated(model, adapter):
        modes = {q.mode for _, q in iter_quantizers(model)}
        seen.append(('calibrated', None, modes))

    clamp_mm.quantize_model(tiny_vit(), images=images, calibrator=None,
                            on_images=on_images, on_calibrated=on_calibrated)
    assert seen == [('images', (4, 3, 32, 32), set()),
                    ('calibrated', None, {'quantize'})]


def test_a_stage_meter_passed_in_gets_the_stages():
    from clamp_mm.pipeline import StageMeter
    meter = StageMeter()
    clamp_mm.quantize_model(tiny_vit(), images=torch.randn(2, 3, 32, 32),
                            calibrator=None, stage_meter=meter)
    assert set(meter.seconds) == {'calibrate'}
    assert 'calibrate' in meter.peak_mib


def test_quantize_finds_the_adapter_and_matches_the_core_call():
    from clamp_mm.models import find_adapter
    from clamp_mm.quant import quantize as core_quantize
    images = torch.randn(2, 3, 32, 32)
    by_api = clamp_mm.quantize(tiny_vit(), dict(weight_bits=4),
                               lambda m: m(images))
    explicit = tiny_vit()
    core_quantize(explicit, dict(weight_bits=4), lambda m: m(images),
                  find_adapter(explicit))
    want, got = quantizer_state(explicit), quantizer_state(by_api)
    assert want.keys() == got.keys() and len(want) > 0
    for name in want:
        assert torch.equal(want[name][2], got[name][2]), name


def _forbidden(*args, **kwargs):
    raise AssertionError('the generator was called')


@pytest.mark.parametrize('name', ['quantize_model', 'quantize',
                                  'QuantLoopConfig', 'QuantizationResult'])
def test_the_api_is_served_from_the_top_level(name):
    import clamp_mm.pipeline
    assert getattr(clamp_mm, name) is getattr(clamp_mm.pipeline, name)
    with pytest.raises(AttributeError, match='no_such_name'):
        clamp_mm.no_such_name  # noqa: B018


def test_cost_is_counted_at_the_resolution_of_the_images_given():
    """Images at another size than the model's default (a detector
    calibrated at 128 px) are costed at their own size."""
    from timm.models.vision_transformer import VisionTransformer
    torch.manual_seed(0)
    model = VisionTransformer(img_size=32, patch_size=8, embed_dim=16,
                              depth=2, num_heads=2, mlp_ratio=2,
                              num_classes=10, dynamic_img_size=True).eval()
    default = clamp_mm.quantize_model(copy.deepcopy(model), calibrator=None,
                                      images=torch.randn(2, 3, 32, 32))
    larger = clamp_mm.quantize_model(model, calibrator=None,
                                     images=torch.randn(2, 3, 64, 64))
    assert larger.cost['resolution'] == [64, 64]
    # Four times the tokens: more than four times the MACs (attention).
    assert larger.cost['gmacs'] > 4 * default.cost['gmacs']


def test_float_cost_counts_what_the_quantized_cost_counts():
    model = tiny_vit()
    float_cost = float_cost_report(model)
    quantized = clamp_mm.quantize_model(tiny_vit(), calibrator=None,
                                        images=torch.randn(2, 3, 32, 32))
    for field in ('gmacs', 'float_gbops', 'float_size_mb', 'resolution'):
        assert float_cost[field] == quantized.cost[field], field
    assert float_cost['gbops'] == float_cost['float_gbops']
    assert float_cost['size_mb'] == float_cost['float_size_mb']
    # The float model itself hides its attention matmuls from the hooks.
    plain = cost_report(model, find_adapter(model))
    assert float_cost['gmacs'] > plain['gmacs']
    # ... and was not modified.
    assert not any(True for _ in iter_quantizers(model))
