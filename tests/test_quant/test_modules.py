import pytest
import torch
from torch import nn

from clamp_mm.quant import (QuantConv2d, QuantizerFactory, QuantLinear,
                            QuantRecipe, TensorQuantizer, apply_overrides,
                            set_quant_mode, swap_linear_and_conv)


def tiny_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 5 * 5, 6))


def test_swap_keeps_names_and_parameters():
    net = tiny_net()
    float_state = {k: v.clone() for k, v in net.state_dict().items()}
    swapped = swap_linear_and_conv(net, QuantizerFactory(QuantRecipe()))
    assert swapped == ['0', '3']
    assert isinstance(net[0], QuantConv2d) and isinstance(net[3], QuantLinear)
    assert isinstance(net[0].weight_quantizer, TensorQuantizer)
    assert isinstance(net[3].input_quantizer, TensorQuantizer)
    for key, value in float_state.items():
        torch.testing.assert_close(net.state_dict()[key], value)


def test_float_state_dict_loads_before_and_after_swap():
    source = tiny_net()
    with torch.no_grad():
        for parameter in source.parameters():
            parameter.add_(1.0)
    float_state = source.state_dict()
    before = tiny_net()
    before.load_state_dict(float_state)
    swap_linear_and_conv(before, QuantizerFactory(QuantRecipe()))
    after = tiny_net()
    swap_linear_and_conv(after, QuantizerFactory(QuantRecipe()))
    after.load_state_dict(float_state, strict=True)
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        expected = source(x)
        torch.testing.assert_close(before(x), expected)
        torch.testing.assert_close(after(x), expected)


def test_quantized_checkpoint_round_trip():
    net = tiny_net()
    swap_linear_and_conv(net, QuantizerFactory(QuantRecipe(weight_bits=3)))
    x = torch.randn(4, 3, 5, 5)
    set_quant_mode(net, 'calibrate')
    net(x)
    set_quant_mode(net, 'quantize')
    other = tiny_net()
    swap_linear_and_conv(other, QuantizerFactory(QuantRecipe(weight_bits=3)))
    other.load_state_dict(net.state_dict())
    set_quant_mode(other, 'quantize')
    with torch.no_grad():
        torch.testing.assert_close(other(x), net(x))


def test_weight_quantizer_self_calibrates_and_limits_levels():
    net = tiny_net()
    swap_linear_and_conv(net, QuantizerFactory(QuantRecipe(weight_bits=4)))
    net[3].input_quantizer = nn.Identity()
    net[0].input_quantizer = nn.Identity()
    set_quant_mode(net, 'quantize')
    net(torch.randn(1, 3, 5, 5))
    weight = net[3].weight_quantizer(net[3].weight)
    assert all(row.unique().numel() <= 16 for row in weight)


def test_overrides_set_bits_and_reject_unmatched_patterns():
    net = tiny_net()
    swap_linear_and_conv(net, QuantizerFactory(QuantRecipe()))
    counts = apply_overrides(net, {'3': dict(weight_bits=8, act_bits=6)})
    assert counts == {'3': 2}
    assert net[3].weight_quantizer.bits == 8
    assert net[3].input_quantizer.bits == 6
    assert net[0].weight_quantizer.bits == 4
    with pytest.raises(ValueError, match="overrides\\['blocks.9.\\*'\\]"):
        apply_overrides(net, {'blocks.9.*': dict(weight_bits=8)})


def test_gradient_flows_through_quantized_layers():
    net = tiny_net()
    swap_linear_and_conv(net, QuantizerFactory(QuantRecipe()))
    x = torch.randn(2, 3, 5, 5)
    set_quant_mode(net, 'calibrate')
    net(x)
    set_quant_mode(net, 'quantize')
    x.requires_grad_(True)
    net(x).sum().backward()
    assert x.grad.abs().sum() > 0
    assert net[0].weight.grad.abs().sum() > 0


def test_cached_inference_weight_follows_scale_and_bits_edits():
    net = tiny_net()
    swap_linear_and_conv(net, QuantizerFactory(QuantRecipe(weight_bits=4)))
    x = torch.randn(2, 3, 5, 5)
    set_quant_mode(net, 'calibrate')
    net(x)
    set_quant_mode(net, 'quantize')

    def fresh_output():
        with torch.no_grad():
            return net(x)

    first = fresh_output()
    torch.testing.assert_close(fresh_output(), first)
    net[3].weight_quantizer.scale.mul_(1.5)  # what the search does
    after_scale = fresh_output()
    assert not torch.allclose(after_scale, first)
    net[3].weight_quantizer.set_bits(8)
    assert not torch.allclose(fresh_output(), after_scale)
    with torch.no_grad():
        net[0].weight.add_(0.1)
    changed = fresh_output()
    # With gradients on, weights requiring grad bypass the cache.
    torch.testing.assert_close(changed, net(x).detach())
