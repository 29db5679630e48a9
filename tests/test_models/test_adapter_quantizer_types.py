"""RepQ-ViT folding and the new quantizer types on every adapter family."""
import copy

import torch

from clamp_mm.models import find_adapter
from clamp_mm.quant import (LayerNormReparamQuantizer,
                            PowerOfTwoFactorQuantizer, TwinUniformQuantizer,
                            iter_quantizers, quant_summary, quantize,
                            set_quant_mode)


def flat(output):
    if isinstance(output, (tuple, list)):
        return torch.cat([o.flatten() for o in output])
    return output.flatten()


def unpadded(model, images):
    # Swin windows pad the LayerNorm output with zeros, which the folding
    # moves (documented): exactness holds where no padding happens.
    if find_adapter(model).family == 'mmdet-swin':
        return torch.randn(2, 3, 64, 64)
    return images


def test_folded_model_equals_float_and_is_per_tensor(family):
    model, images, _ = family
    images = unpadded(model, images)
    reference = copy.deepcopy(model)
    adapter = find_adapter(model)
    pairs = adapter.layernorm_linear_pairs()
    quantize(model, dict(preset='repq_vit', weight_bits=4, act_bits=4),
             lambda m: adapter.forward_images(images))
    folding = [q for _, q in iter_quantizers(model)
               if isinstance(q, LayerNormReparamQuantizer)]
    assert len(folding) >= 2 * len(adapter.blocks()) and len(pairs) >= len(
        folding)
    assert all(q.is_folded and q.scale.dim() == 0 for q in folding)
    assert all(q.kernel_kind == 'uniform-per-tensor' for q in folding)
    with torch.no_grad():
        quantized = flat(adapter.forward_images(images))
        set_quant_mode(model, 'off')
        folded_float = flat(adapter.forward_images(images))
        expected = flat(find_adapter(reference).forward_images(images))
    torch.testing.assert_close(folded_float, expected, rtol=1e-4, atol=1e-4)
    assert torch.isfinite(quantized).all()
    # LayerNorm parameters really changed: the factors live there now.
    float_parameters = dict(reference.named_parameters())
    changed = [name for name, parameter in model.named_parameters()
               if name in float_parameters
               and not torch.equal(parameter, float_parameters[name])]
    assert any('norm' in name or 'ln' in name for name in changed)


def test_full_preset_quantizer_types_and_summary(family):
    model, images, _ = family
    adapter = find_adapter(model)
    quantize(model, dict(preset='clamp_full', act_bits=4,
                         point_quantizers={'block_output': 'ptf',
                                           'post_gelu': 'twin_uniform'}),
             lambda m: adapter.forward_images(images))
    kinds = {type(q) for _, q in iter_quantizers(model)}
    assert {PowerOfTwoFactorQuantizer, TwinUniformQuantizer} <= kinds
    with torch.no_grad():
        assert torch.isfinite(flat(adapter.forward_images(images))).all()
    summary = quant_summary(model)
    assert 'twin-uniform *' in summary and 'log-sqrt2 *' in summary
    assert 'uniform-per-tensor' in summary
    assert 'map to integer kernels' in summary.splitlines()[-1]
