"""Export mode: traceable by torch.export, same values as eager quantize."""
import pytest
import torch
from torch import nn

from clamp_mm.quant import (QuantizerFactory, QuantRecipe, TensorQuantizer,
                            fake_quantize, set_quant_mode)
from clamp_mm.quant.export_mode import (EXPORTED_WEIGHT, check_exportable,
                                        export_mode)


class TinyMLP(nn.Module):
    """Two quantized linears with a quantized GELU output in between."""

    def __init__(self, recipe: QuantRecipe) -> None:
        super().__init__()
        factory = QuantizerFactory(recipe)
        self.fc1 = factory.linear(nn.Linear(8, 16))
        self.fc2 = factory.linear(nn.Linear(16, 4), 'post_gelu')

    def forward(self, x):
        return self.fc2(torch.nn.functional.gelu(self.fc1(x)))


def calibrated_mlp(weight_bits=4, act_bits=8, symmetric=True):
    torch.manual_seed(0)
    model = TinyMLP(QuantRecipe(weight_bits=weight_bits, act_bits=act_bits,
                                weight_symmetric=symmetric)).eval()
    set_quant_mode(model, 'calibrate')
    with torch.no_grad():
        model(torch.randn(64, 8))
    set_quant_mode(model, 'quantize')
    return model


@pytest.mark.parametrize('weight_bits,act_bits,symmetric',
                         [(8, 8, True), (4, 8, True), (4, 8, False),
                          (4, 4, False), (3, 6, True)])
def test_export_mode_gives_the_eager_values(weight_bits, act_bits,
                                            symmetric):
    model = calibrated_mlp(weight_bits, act_bits, symmetric)
    # Inputs beyond the calibrated range: the clamp of narrow activations
    # must act as the eager quantizer's clipping does.
    x = torch.randn(32, 8) * 3
    with torch.no_grad():
        eager = model(x)
        with export_mode(model):
            exported = model(x)
    torch.testing.assert_close(exported, eager, rtol=0, atol=1e-6)


@pytest.mark.parametrize('bits', [2, 4, 7, 8])
@pytest.mark.parametrize('symmetric', [True, False])
@pytest.mark.parametrize('channel_axis', [None, 0])
def test_container_form_equals_fake_quantize(bits, symmetric, channel_axis):
    torch.manual_seed(bits)
    quantizer = TensorQuantizer(bits=bits, symmetric=symmetric,
                                channel_axis=channel_axis,
                                num_channels=None if channel_axis is None
                                else 6)
    quantizer.mode = 'calibrate'
    quantizer(torch.randn(6, 10))
    quantizer.mode = 'quantize'
    x = torch.randn(6, 10) * 2
    expected = fake_quantize(x, quantizer.scale, quantizer.zero_point, bits,
                             symmetric, channel_axis)
    torch.testing.assert_close(quantizer.container_fake_quantize(x),
                               expected, rtol=0, atol=1e-6)


def test_torch_export_traces_only_in_export_mode():
    model = calibrated_mlp()
    x = torch.randn(2, 8)
    with pytest.raises(Exception):
        # The eager calibration check branches on buffer values.
        torch.export.export(model, (x, ))
    with export_mode(model):
        program = torch.export.export(model, (x, ))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), rtol=0,
                                   atol=1e-6)


def test_weights_are_quantized_once_and_state_is_restored():
    model = calibrated_mlp()
    with export_mode(model):
        folded = getattr(model.fc1, EXPORTED_WEIGHT)
        assert not folded.requires_grad
        # Quantized values: at most 2^4 levels per output channel.
        assert all(len(row.unique()) <= 16 for row in folded)
        assert all(q.exporting for q in (model.fc1.weight_quantizer,
                                         model.fc2.input_quantizer))
    assert not hasattr(model.fc1, EXPORTED_WEIGHT)
    assert EXPORTED_WEIGHT not in model.fc1.state_dict()
    assert not model.fc1.weight_quantizer.exporting
    with pytest.raises(RuntimeError), export_mode(model):
        raise RuntimeError('export failed')
    assert not model.fc2.input_quantizer.exporting
    assert not hasattr(model.fc2, EXPORTED_WEIGHT)


def test_uncalibrated_activation_quantizer_is_named_in_one_line():
    torch.manual_seed(0)
    model = TinyMLP(QuantRecipe()).eval()
    set_quant_mode(model, 'quantize')
    with pytest.raises(ValueError) as error:
        with export_mode(model):
            pass
    message = str(error.value)
    assert '\n' not in message
    assert 'fc1.input_quantizer' in message and 'never calibrated' in message
    assert '1 other' in message  # fc2's input quantizer
    # Weight quantizers are never the problem: weights are at hand.
    assert 'weight_quantizer' not in message


def test_quantizer_left_in_calibrate_mode_is_refused():
    model = calibrated_mlp()
    model.fc2.input_quantizer.mode = 'calibrate'
    with pytest.raises(ValueError, match='fc2.input_quantizer is still in '
                       'calibrate mode'):
        check_exportable(model)
