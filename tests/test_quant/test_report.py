import pytest
import torch
from torch import nn

from clamp_mm.quant import (QuantizerFactory, apply_overrides, QuantRecipe,
                            model_cost, quant_summary, set_quant_mode,
                            swap_linear_and_conv)


def tiny_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(4 * 5 * 5, 6))


def test_size_and_bops_match_hand_count():
    net = tiny_net()
    swap_linear_and_conv(
        net, QuantizerFactory(QuantRecipe(weight_bits=4, act_bits=8)))
    apply_overrides(net, {'3': dict(act_bits=6)})
    x = torch.randn(1, 3, 5, 5)
    set_quant_mode(net, 'calibrate')
    net(x)
    set_quant_mode(net, 'quantize')
    cost = model_cost(net, x)
    # conv: 4x5x5 outputs x (3x3x3) MACs; linear: 6 outputs x 100 inputs.
    assert [(layer.name, layer.macs) for layer in cost.layers] == [('0', 2700),
                                                                   ('3', 600)]
    assert cost.bops == 2700 * 4 * 8 + 600 * 4 * 6
    # weights (108 + 600) at 4 bits, biases (4 + 6) at 32 bits.
    assert cost.size_bits == (108 + 600) * 4 + (4 + 6) * 32
    assert cost.float_size_bits == (108 + 600 + 4 + 6) * 32
    assert cost.size_mb == pytest.approx(cost.size_bits / 8 / 2**20)
    assert cost.float_bops == 3300 * 32 * 32


def test_float_model_counts_32_bits():
    net = tiny_net()
    cost = model_cost(net, torch.randn(1, 3, 5, 5))
    assert cost.bops == cost.float_bops
    assert cost.size_bits == cost.float_size_bits


def test_attention_matmuls_counted():
    vit = pytest.importorskip('timm.models.vision_transformer')
    from clamp_mm.models.timm_vit import QuantTimmAttention
    attention = QuantTimmAttention.from_float(vit.Attention(8, num_heads=2),
                                              QuantizerFactory(QuantRecipe()))
    x = torch.randn(1, 5, 8)
    set_quant_mode(attention, 'calibrate')
    attention(x)
    set_quant_mode(attention, 'quantize')
    macs = {
        layer.name: layer.macs
        for layer in model_cost(attention, x).layers
    }
    # 2 heads x 5 queries x 5 keys x head dim 4, for both matmuls.
    assert macs == {
        'qkv': 5 * 24 * 8,
        '.qk': 200,
        '.av': 200,
        'proj': 5 * 8 * 8
    }


def test_summary_lists_every_quantizer():
    net = tiny_net()
    swap_linear_and_conv(net, QuantizerFactory(QuantRecipe(weight_bits=3)))
    summary = quant_summary(net)
    assert '0.weight_quantizer' in summary and '3.input_quantizer' in summary
    assert 'channel(4)' in summary and 'W3 x2' in summary and 'A8 x2' in summary
