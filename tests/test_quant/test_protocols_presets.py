"""Quant-point protocols, quantizer types per point and recipe presets."""
import pytest

from clamp_mm.quant import PRESETS, PROTOCOLS, QUANT_POINTS, QuantRecipe


def test_protocols_name_their_points():
    assert set(PROTOCOLS['full']) == set(QUANT_POINTS)
    linear = QuantRecipe(protocol='linear')
    assert not linear.point_enabled('block_output')
    assert not linear.point_enabled('score')
    for point in ('weight', 'input', 'q', 'k', 'v', 'softmax', 'attn_output',
                  'post_gelu'):
        assert linear.point_enabled(point)
    assert QuantRecipe().point_enabled('block_output')
    # Flags still switch points off on top of a protocol.
    assert not QuantRecipe(protocol='full',
                           quantize_block_output=False).point_enabled(
                               'block_output')


def test_quantizer_types_per_point():
    recipe = QuantRecipe(softmax_quantizer='log_sqrt2',
                         point_quantizers={'post_gelu': 'twin_uniform',
                                           'block_output': 'ptf'})
    assert recipe.quantizer_type('softmax') == 'log_sqrt2'
    assert recipe.quantizer_type('post_gelu') == 'twin_uniform'
    assert recipe.quantizer_type('q') == 'uniform'
    override = QuantRecipe(softmax_quantizer='log2',
                           point_quantizers={'softmax': 'twin_uniform'})
    assert override.quantizer_type('softmax') == 'twin_uniform'


@pytest.mark.parametrize('kwargs,message', [
    (dict(protocol='half'), "protocol must be one of ['full', 'linear']"),
    (dict(point_quantizers={'q': 'ptf'}),
     "point_quantizers['q'] must be one of ['uniform']"),
    (dict(point_quantizers={'gelu': 'uniform'}), 'point_quantizers key'),
    (dict(softmax_quantizer='ptf'), 'softmax_quantizer must be one of'),
    (dict(preset='best'), 'preset must be one of'),
    (dict(reparameterize_layernorm='yes'), 'reparameterize_layernorm'),
])
def test_bad_names_one_line_with_choices(kwargs, message):
    with pytest.raises(ValueError) as error:
        QuantRecipe.from_dict(kwargs)
    text = str(error.value)
    assert message in text and '\n' not in text


def test_presets_fill_unset_fields_and_round_trip():
    assert 'minmax' in PRESETS
    recipe = QuantRecipe.from_dict(
        dict(preset='repq_vit', weight_bits=3, act_bits=4))
    assert recipe.reparameterize_layernorm and recipe.protocol == 'linear'
    assert recipe.softmax_quantizer == 'log_sqrt2'
    assert (recipe.weight_bits, recipe.act_bits) == (3, 4)
    assert QuantRecipe.from_dict(recipe.to_dict()) == recipe
    # A field given in the config wins over the preset, even a default one.
    explicit = QuantRecipe.from_dict(dict(preset='repq_vit',
                                          protocol='full'))
    assert explicit.protocol == 'full' and explicit.preset == 'repq_vit'
    direct = QuantRecipe(preset='fq_vit')
    assert direct.point_quantizers == {'block_output': 'ptf'}
    assert direct.softmax_quantizer == 'log2'


@pytest.mark.parametrize('name', sorted(PRESETS))
def test_every_preset_builds(name):
    recipe = QuantRecipe.from_dict(dict(preset=name))
    for point in QUANT_POINTS:
        recipe.point_enabled(point)
        recipe.quantizer_type(point)
