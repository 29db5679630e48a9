"""Where LayerNorms feed Linears, and the RepQ-ViT quantizers put there.

Each adapter lists its (LayerNorm, Linears) pairs by name
(:meth:`ModelAdapter.layernorm_linear_pairs`); this module checks them
against the model and installs the folding input quantizers.
"""
from typing import List, Sequence, Tuple

from torch import nn

from clamp_mm.quant import QuantLinear, TensorQuantizer

#: A LayerNorm's dotted name and the dotted names of the Linears it feeds.
LayerNormPair = Tuple[str, List[str]]


def _find(model: nn.Module, name: str):
    try:
        return model.get_submodule(name)
    except AttributeError:
        return None


def existing_pairs(model: nn.Module,
                   candidates: Sequence[LayerNormPair]) -> List[LayerNormPair]:
    """The candidate pairs whose LayerNorm and Linears all exist.

    Args:
        model (nn.Module): The model.
        candidates (Sequence[LayerNormPair]): Pairs by name; optional parts
            (a stage without patch merging) may be missing.

    Returns:
        list[LayerNormPair]: Pairs of an ``nn.LayerNorm`` and ``nn.Linear``
        modules only.
    """
    pairs = []
    for norm_name, linear_names in candidates:
        norm = _find(model, norm_name)
        linears = [_find(model, name) for name in linear_names]
        if isinstance(norm, nn.LayerNorm) and linear_names and all(
                isinstance(linear, nn.Linear) for linear in linears):
            pairs.append((norm_name, list(linear_names)))
    return pairs


def attach_layernorm_reparam(model: nn.Module,
                             pairs: Sequence[LayerNormPair],
                             factory) -> List[str]:
    """Give the Linears after each LayerNorm one folding input quantizer.

    A pair is skipped when a Linear is not quantized or its input is not
    (patch embedding, head or protocol left float). A Linear without a bias
    gets a zero one now (float-exact), which the folding will fill: the
    structure, and so the state dict, is the same before and after
    calibration, and a saved quantized model loads into a freshly swapped
    one. Float state dicts (no bias entry) still load strictly: the bias
    reads as zero.

    Args:
        model (nn.Module): The swapped model.
        pairs (Sequence[LayerNormPair]): From the adapter.
        factory (clamp_mm.quant.QuantizerFactory): Builds the quantizers.

    Returns:
        list[str]: Names of the LayerNorms that got a folding quantizer.
    """
    attached = []
    for norm_name, linear_names in pairs:
        norm = model.get_submodule(norm_name)
        linears = [model.get_submodule(name) for name in linear_names]
        if not all(
                isinstance(linear, QuantLinear)
                and isinstance(linear.input_quantizer, TensorQuantizer)
                for linear in linears):
            continue
        quantizer = factory.layernorm_reparam(norm, linears)
        if quantizer is None:
            return attached
        for linear in linears:
            linear.input_quantizer = quantizer
            if linear.bias is None:
                linear.bias = nn.Parameter(
                    linear.weight.new_zeros(linear.weight.shape[0]))
                linear._register_load_state_dict_pre_hook(
                    _zero_bias_if_missing)
        attached.append(norm_name)
    return attached


def _zero_bias_if_missing(state_dict, prefix, local_metadata, strict,
                          missing_keys, unexpected_keys, error_msgs) -> None:
    """Load-state-dict pre-hook: a float checkpoint of a bias-less Linear
    has no ``bias`` entry; the folding bias is zero there."""
    weight = state_dict.get(prefix + 'weight')
    if weight is not None and prefix + 'bias' not in state_dict:
        state_dict[prefix + 'bias'] = weight.new_zeros(weight.shape[0])


def block_channels(block: nn.Module) -> int:
    """Width of a transformer block's tokens: its first LayerNorm's."""
    for module in block.modules():
        if isinstance(module, nn.LayerNorm):
            return int(module.normalized_shape[-1])
    raise ValueError(f'{type(block).__name__} holds no LayerNorm to read '
                     'its token width from')
