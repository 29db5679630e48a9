"""QuantLoopConfig: the one typed config of a run, validated once."""
import pytest

from clamp_mm.pipeline import QuantLoopConfig
from clamp_mm.quant import QuantRecipe


def test_defaults():
    config = QuantLoopConfig.from_dict({})
    assert config.recipe == QuantRecipe()
    assert config.generator == dict(type='clamp_mm.ClampGenerator')
    assert config.calibrator == dict(type='clamp_mm.EvolutionaryCalibrator')
    assert (config.num_images, config.calibration_batch_size) == (32, 8)
    assert config.resolution is None and config.save_quantized


def test_test_loop_keys_are_ignored_and_values_converted():
    config = QuantLoopConfig.from_dict(
        dict(type='clamp_mm.QuantTestLoop', fp16=False, _scope_='mmdet',
             recipe=dict(weight_bits=8), resolution=[64, 48],
             calibrator=None))
    assert config.recipe.weight_bits == 8
    assert config.resolution == (64, 48) and config.calibrator is None
    assert QuantLoopConfig.from_dict(dict(resolution=16)).resolution == (16,
                                                                         16)


def test_the_defaults_do_not_leak_between_configs():
    first = QuantLoopConfig()
    first.generator['iterations'] = 3
    assert 'iterations' not in QuantLoopConfig().generator


@pytest.mark.parametrize('fields,message', [
    (dict(num_imags=3), r"has unknown field\(s\) \['num_imags'\]"),
    (dict(num_images=0), 'num_images must be an int >= 1, got 0'),
    (dict(num_images='four'), "num_images must be an int >= 1, got 'four'"),
    (dict(calibration_batch_size=0), 'calibration_batch_size must be'),
    (dict(recipe=dict(act_bits=12)), 'recipe: act_bits must be an int in'),
    (dict(recipe=dict(bits=4)), r'recipe: unknown QuantRecipe field'),
    (dict(resolution=(0, 4)), 'resolution must be None, a positive int'),
    (dict(generator=dict(iterations=3)), 'generator must be a config dict'),
    (dict(calibrator='search'), 'calibrator must be a config dict'),
])
def test_bad_values_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        QuantLoopConfig.from_dict(fields)


def test_the_loop_accepts_exactly_the_config_fields():
    from clamp_mm.engine.quant_test_loop import quant_loop_fields
    assert quant_loop_fields() == list(QuantLoopConfig.field_names())


def test_the_loop_reads_its_fields_from_the_config():
    from mmengine.runner import TestLoop

    from clamp_mm.engine import QuantTestLoop

    loop = QuantTestLoop.__new__(QuantTestLoop)
    loop.config = QuantLoopConfig(num_images=5, evaluate_fp=True)
    assert (loop.num_images, loop.evaluate_fp) == (5, True)
    assert isinstance(loop, TestLoop)
    with pytest.raises(AttributeError, match='no_such_field'):
        loop.no_such_field  # noqa: B018
