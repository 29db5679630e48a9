"""timm-specific checks: attention parity, and tap grids equal to the
merged, un-shifted attention output timm itself computes."""
import copy

import pytest
import torch

from clamp_mm.models import find_adapter
from clamp_mm.quant import QuantizerFactory, QuantRecipe

swin = pytest.importorskip('timm.models.swin_transformer')
vit = pytest.importorskip('timm.models.vision_transformer')


@pytest.mark.parametrize('fused', [True, False])
def test_vit_attention_with_quantizers_off_equals_float(fused):
    from clamp_mm.models.timm_vit import QuantTimmAttention
    torch.manual_seed(0)
    attention = vit.Attention(32, num_heads=4, qkv_bias=True).eval()
    attention.fused_attn = fused
    reference = copy.deepcopy(attention)
    quant = QuantTimmAttention.from_float(attention,
                                          QuantizerFactory(
                                              QuantRecipe())).eval()
    x = torch.randn(2, 17, 32)
    mask = torch.rand(17, 17) > 0.2
    mask.fill_diagonal_(True)
    with torch.no_grad():
        torch.testing.assert_close(quant(x), reference(x))
        torch.testing.assert_close(quant(x, attn_mask=mask),
                                   reference(x, attn_mask=mask))
    assert set(reference.state_dict()) <= set(quant.state_dict())


def test_swin_taps_equal_timm_merged_attention():
    torch.manual_seed(0)
    model = swin.SwinTransformer(img_size=32,
                                 patch_size=2,
                                 embed_dim=16,
                                 depths=(2, 2),
                                 num_heads=(2, 2),
                                 window_size=4,
                                 num_classes=10).eval()
    adapter = find_adapter(model)
    taps = adapter.token_taps()
    blocks = dict(adapter.blocks())
    grids, inputs = {}, {}

    def tap_hook(tap):

        def hook(module, args, output):
            grids[tap.name] = tap.to_grid(output)

        return hook

    def input_hook(name):

        def hook(module, args):
            inputs[name] = args[0]

        return hook

    handles = [tap.module.register_forward_hook(tap_hook(tap)) for tap in taps]
    handles += [
        block.register_forward_pre_hook(input_hook(name))
        for name, block in blocks.items()
    ]
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
        for handle in handles:
            handle.remove()
        assert any(any(block.shift_size) for block in blocks.values())
        for name, block in blocks.items():
            expected = block._attn(block.norm1(inputs[name]))
            torch.testing.assert_close(grids[f'{name}.attn'], expected)


def _tiny_vit():
    torch.manual_seed(0)
    return vit.VisionTransformer(img_size=32,
                                 patch_size=4,
                                 embed_dim=32,
                                 depth=2,
                                 num_heads=2,
                                 num_classes=10).eval()


def test_recipe_overrides_reach_the_named_block_only():
    from clamp_mm.quant import iter_quantizers, quantize
    model = quantize(
        _tiny_vit(),
        dict(weight_bits=4,
             act_bits=8,
             overrides={'blocks.1.*': dict(weight_bits=8, act_bits=6)}))
    for name, quantizer in iter_quantizers(model):
        in_block_1 = name.startswith('blocks.1.')
        if quantizer.point == 'weight':
            assert quantizer.bits == (8 if in_block_1 else 4), name
        elif name.startswith('blocks.1.attn') or '.mlp.' in name:
            assert quantizer.bits == (6 if in_block_1 else 8), name


def test_unmatched_override_pattern_is_an_error():
    from clamp_mm.quant import quantize
    with pytest.raises(ValueError, match=r"overrides\['layers\.\*'\]"):
        quantize(_tiny_vit(), dict(overrides={'layers.*': dict(act_bits=6)}))
