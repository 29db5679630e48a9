"""Every adapter, on a tiny random model of its family."""
import copy

import torch
import torch.nn.functional as F
from torch import nn

from clamp_mm.models import find_adapter
from clamp_mm.quant import (ATTENTION_QUANTIZER_NAMES, QuantAttentionMixin,
                            QuantConv2d, QuantLinear, TensorQuantizer,
                            iter_quantizers, quantize, set_quant_mode)


def first(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def flat(output):
    if isinstance(output, (tuple, list)):
        return torch.cat([o.flatten() for o in output])
    return output.flatten()


def cosine(a, b):
    return F.cosine_similarity(flat(a), flat(b), dim=0).item()


def test_adapter_basics(family):
    model, images, _ = family
    adapter = find_adapter(model)
    assert len(adapter.input_size) == 2
    mean, std = adapter.mean_std
    assert len(mean) == len(std) == 3 and min(std) > 1  # 0-255 scale
    with torch.no_grad():
        output = adapter.forward_images(images)
    if adapter.has_head:
        assert output.shape[0] == images.shape[0] and output.dim() == 2
    assert adapter.backbone() in dict(model.named_modules()).values()


def test_token_taps_give_grids(family):
    model, images, expected = family
    adapter = find_adapter(model)
    taps = adapter.token_taps()
    grids = {}

    def record(tap):

        def hook(module, args, output):
            grids[tap.name] = tap.to_grid(first(output))

        return hook

    handles = [tap.module.register_forward_hook(record(tap)) for tap in taps]
    with torch.no_grad():
        adapter.forward_images(images)
    for handle in handles:
        handle.remove()
    assert [tuple(grids[tap.name].shape) for tap in taps
            ] == [(images.shape[0], ) + shape for shape in expected]


def test_blocks_rerun_from_captured_inputs(family):
    model, images, expected = family
    adapter = find_adapter(model)
    blocks = adapter.blocks()
    assert len(blocks) == len(expected)
    calls = {}

    def record(name):

        def hook(module, args, kwargs, output):
            calls[name] = (args, kwargs, first(output))

        return hook

    handles = [
        block.register_forward_hook(record(name), with_kwargs=True)
        for name, block in blocks
    ]
    with torch.no_grad():
        adapter.forward_images(images)
        for handle in handles:
            handle.remove()
        for (name, block), shape in zip(blocks, expected):
            args, kwargs, output = calls[name]
            torch.testing.assert_close(first(block(*args, **kwargs)), output)
            grid = adapter.block_output_grid(name, output, args, kwargs)
            assert grid.shape[0] == images.shape[0] and grid.dim() == 4
            assert grid.shape[-1] == shape[-1]


def test_everything_swapped_and_attention_points_present(family):
    model, images, expected = family
    adapter = find_adapter(model)
    quantize(model, dict(quantize_head=True))
    for name, module in adapter.backbone().named_modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            assert isinstance(module, (QuantLinear, QuantConv2d)), name
            assert isinstance(module.weight_quantizer, TensorQuantizer), name
    attentions = [
        module for module in model.modules()
        if isinstance(module, QuantAttentionMixin)
    ]
    assert len(attentions) == len(expected)
    for attention in attentions:
        for quantizer_name in ATTENTION_QUANTIZER_NAMES:
            assert isinstance(getattr(attention, quantizer_name),
                              TensorQuantizer)
    for _, block in adapter.blocks():
        assert isinstance(block.output_quantizer, TensorQuantizer)
    points = {quantizer.point for _, quantizer in iter_quantizers(model)}
    assert points >= {
        'weight', 'input', 'q', 'k', 'v', 'score', 'softmax', 'attn_output',
        'post_gelu', 'block_output'
    }


def test_quantizers_off_equal_float(family):
    model, images, _ = family
    reference = copy.deepcopy(model)
    quantize(model, dict(quantize_head=True))  # quantizers start 'off'
    with torch.no_grad():
        torch.testing.assert_close(
            flat(find_adapter(model).forward_images(images)),
            flat(find_adapter(reference).forward_images(images)),
            rtol=1e-4,
            atol=1e-5)


def test_float_state_dict_loads_after_swap(family):
    model, images, _ = family
    float_state = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        expected = find_adapter(model).forward_images(images)
    torch.manual_seed(123)
    quantize(model, dict())
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(0.5)
    model.load_state_dict(float_state, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(flat(
            find_adapter(model).forward_images(images)),
                                   flat(expected),
                                   rtol=1e-4,
                                   atol=1e-5)


def test_w8a8_close_and_w2_far(family):
    model, images, _ = family
    results = {}
    for bits in (8, 2):
        quantized = copy.deepcopy(model)
        adapter = find_adapter(quantized)
        quantize(quantized, dict(weight_bits=bits, act_bits=bits),
                 lambda m: adapter.forward_images(images))
        with torch.no_grad():
            results[bits] = cosine(adapter.forward_images(images),
                                   find_adapter(model).forward_images(images))
    assert results[8] > 0.99
    assert results[2] < 0.97
    assert results[2] < results[8]


def test_attention_only_recipe_leaves_linear_inputs(family):
    model, images, _ = family
    quantize(
        model,
        dict(quantize_attention=False,
             quantize_post_gelu=False,
             quantize_block_output=False))
    assert not any(
        isinstance(module, QuantAttentionMixin)
        and isinstance(module.q_quantizer, TensorQuantizer)
        for module in model.modules())
    points = {quantizer.point for _, quantizer in iter_quantizers(model)}
    assert points == {'weight', 'input'}
    set_quant_mode(model, 'off')


def test_image_input_keeps_its_own_bits_at_low_activation_bits(family):
    """At A4 the patch embedding's input (the image) is quantized at
    ``patch_embed_input_bits`` (8 by default: at most 256 levels, more than
    16) and every other input at 4 bits; None gives the image 4 bits too, and
    an override still wins."""
    model, images, _ = family
    for fields, image_bits in ((dict(), 8),
                               (dict(patch_embed_input_bits=None), 4),
                               (dict(patch_embed_input_bits=6), 6)):
        copied = copy.deepcopy(model)
        copied_adapter = find_adapter(copied)
        quantize(copied, dict(weight_bits=4, act_bits=4, **fields),
                 lambda m: copied_adapter.forward_images(images))
        embed_inputs = {
            name + '.input_quantizer'
            for embed in copied_adapter.patch_embed_names()
            for name, module in copied.get_submodule(embed).named_modules(
                prefix=embed) if hasattr(module, 'input_quantizer')}
        assert embed_inputs
        bits = {name: quantizer.bits
                for name, quantizer in iter_quantizers(copied)
                if quantizer.point != 'weight'}
        assert {bits[name] for name in embed_inputs} == {image_bits}, fields
        assert set(bits[name] for name in bits
                   if name not in embed_inputs) == {4}, fields
        quantizer = copied.get_submodule(sorted(embed_inputs)[0])
        levels = quantizer(images).unique().numel()
        assert levels <= 2 ** image_bits
        assert levels > 16 or image_bits == 4, (fields, levels)


def test_w4_weights_take_at_most_16_values_per_channel(family):
    model, images, _ = family
    adapter = find_adapter(model)
    quantize(model, dict(weight_bits=4),
             lambda m: adapter.forward_images(images))
    checked = 0
    for module in model.modules():
        if isinstance(module, (QuantLinear, QuantConv2d)) and isinstance(
                module.weight_quantizer, TensorQuantizer):
            weight = module.weight_quantizer(module.weight).detach()
            for channel in weight.flatten(1):
                assert channel.unique().numel() <= 16
            checked += 1
    assert checked > 0


def test_other_observers_and_log2_softmax(family):
    model, images, _ = family
    adapter = find_adapter(model)
    reference = copy.deepcopy(model)
    quantize(
        model,
        dict(weight_bits=8,
             act_bits=8,
             weight_observer='omse',
             act_observer='percentile',
             softmax_quantizer='log2',
             point_observers={'softmax': 'minmax'}),
        lambda m: adapter.forward_images(images))
    softmax = [q for _, q in iter_quantizers(model) if q.point == 'softmax']
    assert softmax and all(q.kind == 'log2' for q in softmax)
    with torch.no_grad():
        similarity = cosine(adapter.forward_images(images),
                            find_adapter(reference).forward_images(images))
    assert similarity > 0.95


def test_gradient_reaches_images_through_quantized_model(family):
    # The generator's adaptive term back-propagates through the quantized
    # model to the pixels.
    model, images, _ = family
    adapter = find_adapter(model)
    quantize(model, dict(weight_bits=4, act_bits=8),
             lambda m: adapter.forward_images(images))
    images = images.clone().requires_grad_(True)
    flat(adapter.forward_images(images)).pow(2).sum().backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
