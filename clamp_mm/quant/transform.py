"""Module swapping that keeps module names, and per-layer overrides.

Eager-mode only: modules are replaced in their parents under the same
attribute name, so every dotted name (and every state-dict key of the float
model) stays valid.
"""
import copy
import fnmatch
from typing import Dict, Iterable, List, Mapping, Optional

from torch import nn

from .factory import QuantizerFactory
from .modules import QuantConv2d, QuantLinear
from .tensor_quantizer import iter_quantizers


def replace_module(root: nn.Module, name: str, new_module: nn.Module) -> None:
    """Put ``new_module`` at dotted path ``name`` inside ``root``.

    Args:
        root (nn.Module): The model.
        name (str): Dotted name of the module to replace (non-empty).
        new_module (nn.Module): Its replacement.
    """
    if not name:
        raise ValueError('cannot replace the root module itself')
    parent_name, _, child_name = name.rpartition('.')
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child_name, new_module)


def swap_linear_and_conv(
        root: nn.Module,
        factory: QuantizerFactory,
        exclude: Iterable[str] = (),
        input_points: Optional[Mapping[str,
                                       Optional[str]]] = None) -> List[str]:
    """Swap every ``nn.Linear``/``nn.Conv2d`` under ``root`` for its
    quantized version, in place.

    Already-quantized layers are left alone, and so are the layers inside an
    ``nn.MultiheadAttention`` (it reads their weights directly; adapters
    replace the whole attention instead).

    Args:
        root (nn.Module): Where to swap.
        factory (QuantizerFactory): Builds the quantizers.
        exclude (Iterable[str]): Names (relative to ``root``) of modules to
            leave float, with everything under them. Defaults to ().
        input_points (Mapping[str, str | None], optional): Quant point of a
            layer's input by layer name (``'post_gelu'`` for fc2, None for a
            layer whose input is quantized upstream); other layers get
            ``'input'``. Defaults to None.

    Returns:
        list[str]: Names of the swapped layers, relative to ``root``.
    """
    input_points = dict(input_points or {})
    excluded = tuple(exclude)
    skipped_prefixes = [name + '.' for name in excluded]
    targets = []
    for name, module in root.named_modules():
        if name in excluded or any(
                name.startswith(prefix) for prefix in skipped_prefixes):
            continue
        if isinstance(module, nn.MultiheadAttention):
            skipped_prefixes.append(name + '.')
            continue
        if isinstance(module, (QuantLinear, QuantConv2d)):
            continue
        if isinstance(module, (nn.Linear, nn.Conv2d)) and name:
            targets.append((name, module))
    for name, module in targets:
        point = input_points.get(name, 'input')
        if isinstance(module, nn.Linear):
            quantized = factory.linear(module, point)
        else:
            quantized = factory.conv(module, point)
        replace_module(root, name, quantized)
    return [name for name, _ in targets]


def _quantize_first_output(module: nn.Module, args: tuple, output):
    """Forward hook: pass the block's output through its quantizer."""
    quantizer = module.output_quantizer
    if isinstance(output, tuple):
        return (quantizer(output[0]), ) + output[1:]
    return quantizer(output)


def attach_output_quantizer(module: nn.Module, quantizer: nn.Module) -> None:
    """Quantize ``module``'s output (first element if it returns a tuple).

    The quantizer becomes the child ``output_quantizer`` of ``module`` and
    is applied by a forward hook, so the module's own forward (from timm,
    mmcv ...) stays untouched. Idempotent: a second call replaces the
    quantizer.

    Args:
        module (nn.Module): A transformer block.
        quantizer (nn.Module): Its output quantizer.
    """
    already_hooked = hasattr(module, 'output_quantizer')
    module.output_quantizer = quantizer
    if not already_hooked:
        module.register_forward_hook(_quantize_first_output)


def apply_overrides(model: nn.Module,
                    overrides: Mapping[str, Dict[str, int]]) -> Dict[str, int]:
    """Set per-layer bit-widths by wildcard pattern.

    A pattern is matched (``fnmatch``) against the dotted name of the
    module owning each quantizer and against the quantizer's own name.
    ``weight_bits`` goes to weight quantizers, ``act_bits`` to the rest.
    Later patterns win.

    Args:
        model (nn.Module): A swapped model.
        overrides (Mapping[str, dict]): ``pattern -> dict(weight_bits=..,
            act_bits=..)``, as in :class:`QuantRecipe`.

    Returns:
        dict[str, int]: Number of quantizers each pattern changed.

    Raises:
        ValueError: When a pattern matches no quantized module; the message
            shows some of the names that exist.
    """
    quantizers = list(iter_quantizers(model))
    counts = {}
    for pattern, settings in overrides.items():
        count = 0
        for name, quantizer in quantizers:
            owner = name.rpartition('.')[0]
            if not (fnmatch.fnmatchcase(owner, pattern)
                    or fnmatch.fnmatchcase(name, pattern)):
                continue
            key = 'weight_bits' if quantizer.point == 'weight' else 'act_bits'
            if key in settings:
                quantizer.set_bits(settings[key])
                count += 1
        if count == 0:
            owners = sorted(
                {name.rpartition('.')[0]
                 for name, _ in quantizers})
            raise ValueError(
                f'overrides[{pattern!r}]={dict(settings)} matches no '
                'quantizer it could change; expected a wildcard pattern over '
                f'quantized module names, which look like {owners[:8]}')
        counts[pattern] = count
    return counts


def clone_as(module: nn.Module, cls: type) -> nn.Module:
    """A new ``cls`` instance holding exactly ``module``'s state.

    Parameters, buffers, children, hooks and plain attributes are carried
    over (the containers are copied, their contents shared), so every name
    and state-dict key stays the same. Used to turn a float attention into
    its quantized subclass without knowing its constructor arguments.

    Args:
        module (nn.Module): Float module.
        cls (type): Usually a subclass of ``type(module)``.

    Returns:
        nn.Module: The new module; ``module`` should no longer be used.
    """
    clone = cls.__new__(cls)
    clone.__dict__ = {
        key: copy.copy(value) if isinstance(value, (dict, set)) else value
        for key, value in module.__dict__.items()
    }
    return clone
