import pytest

from clamp_mm.quant import QuantRecipe


def test_defaults_follow_method():
    recipe = QuantRecipe()
    assert recipe.weight_per_channel and not recipe.weight_symmetric
    assert recipe.scope == 'backbone' and not recipe.quantize_head
    # The method's min-max recipe is a preset; the default is the measured
    # clamp_data_free preset (issue 13; min-max activations, chosen on CLAMP
    # images).
    minmax = QuantRecipe(preset='minmax')
    assert minmax.observer_cfg('weight')['type'] == 'clamp_mm.MinMaxObserver'
    assert minmax.observer_cfg('q')['type'] == 'clamp_mm.MinMaxObserver'
    assert minmax.softmax_quantizer == 'uniform'
    assert not minmax.reparameterize_layernorm
    assert not minmax.point_quantizers and minmax.protocol == 'full'
    # The image stays 8-bit except in the project's first recipe.
    assert recipe.patch_embed_input_bits == 8
    assert minmax.patch_embed_input_bits is None
    data_free = QuantRecipe.from_dict(dict(preset='clamp_data_free'))
    data_free.preset = ''
    assert data_free == recipe
    clamp_full = QuantRecipe(preset='clamp_full')
    assert clamp_full.act_observer == 'percentile'
    assert recipe.act_observer == 'minmax' and recipe.weight_observer == 'omse'


@pytest.mark.parametrize('field,value', [('weight_bits', 0),
                                         ('weight_bits', 1), ('act_bits', 9),
                                         ('act_bits', 4.0),
                                         ('patch_embed_input_bits', 16),
                                         ('patch_embed_input_bits', '8')])
def test_bad_bits_name_field_and_range(field, value):
    with pytest.raises(ValueError, match=f'{field}.*2..8'):
        QuantRecipe(**{field: value})


@pytest.mark.parametrize('kwargs,field', [
    (dict(act_observer='kl'), 'act_observer'),
    (dict(point_observers={'softmax': 'kl'}), 'point_observers'),
    (dict(point_observers={'gelu': 'minmax'}), 'point_observers key'),
    (dict(softmax_quantizer='cubic'), 'softmax_quantizer'),
    (dict(scope='neck'), 'scope'),
    (dict(overrides={'blocks.0.*': dict(bits=4)}), 'key'),
    (dict(overrides={'blocks.0.*': dict(weight_bits=12)}), 'weight_bits'),
    (dict(observer_kwargs={'percentile': dict(percentile=20)}),
     'observer_kwargs'),
    (dict(observer_kwargs={'omse': dict(ratio=0.5)}), 'observer_kwargs'),
])
def test_bad_values_name_field_and_choices(kwargs, field):
    with pytest.raises(ValueError, match=field) as error:
        QuantRecipe(**kwargs)
    assert 'must be' in str(error.value) or 'not valid' in str(error.value)


def test_point_observer_and_kwargs():
    recipe = QuantRecipe(point_observers={'softmax': 'percentile'},
                         observer_kwargs={'percentile': dict(percentile=99)})
    assert recipe.observer_cfg('softmax') == dict(
        type='clamp_mm.PercentileObserver', percentile=99)
    # Other points keep the recipe's activation observer.
    assert recipe.observer_cfg('q')['type'] == 'clamp_mm.MinMaxObserver'


def test_dict_round_trip_and_unknown_keys():
    recipe = QuantRecipe(weight_bits=3,
                         overrides={'blocks.1.*': dict(act_bits=6)})
    assert QuantRecipe.from_dict(recipe.to_dict()) == recipe
    with pytest.raises(ValueError, match='wieght_bits'):
        QuantRecipe.from_dict(dict(wieght_bits=4))


def test_points_switch():
    recipe = QuantRecipe(quantize_attention=False, quantize_post_gelu=False)
    assert not recipe.point_enabled('softmax')
    assert not recipe.point_enabled('post_gelu')
    assert recipe.point_enabled('block_output')
    assert recipe.point_enabled('weight')
