"""Mixed precision: bit-width choices, budgets and what a model costs.

A :class:`BitBudget` knows, for every quantized layer of a model, its
parameter count, its multiply-accumulates per image and which quantizers
set its weight and input bit-widths; from any assignment of bits it computes
the model's size, BOPs and average bit-widths (method.md section 1) fast
enough to check every candidate of the search.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import nn

from clamp_mm.quant.tensor_quantizer import TensorQuantizer, iter_quantizers
from .genome import is_weight_quantizer

#: Bits counted for a tensor that is not quantized (float32).
FLOAT_BITS = 32
#: Budget keys and what they bound.
BUDGET_KEYS = ('avg_weight_bits', 'avg_activation_bits', 'size_mb', 'gbops')


@dataclass
class MixedPrecisionConfig:
    """Which bit-widths the search may pick, and the budget they must meet.

    At least one budget must be given; every budget given is enforced (a
    candidate over any of them is rejected without being evaluated).

    Args:
        weight_bit_choices (Sequence[int]): Bit-widths a weight quantizer
            may take; empty keeps weight bits fixed. Defaults to
            (4, 5, 6, 7, 8).
        activation_bit_choices (Sequence[int]): Bit-widths an activation
            quantizer may take; empty keeps them fixed. Defaults to ().
        bit_mutation_prob (float): Per quantizer and child, the probability
            of a +-1 bit change ("small"; our default). Defaults to 0.05.
        avg_weight_bits (float, optional): Bound on the parameter-weighted
            mean weight bit-width. Defaults to None.
        avg_activation_bits (float, optional): Bound on the mean bit-width
            over activation quantizers. Defaults to None.
        size_mb (float, optional): Bound on the model size in MB (10^6
            bytes): quantized weights at their bits, every other parameter
            at 32 bits. Defaults to None.
        gbops (float, optional): Bound on the giga bit-operations per image
            (MACs x weight bits x input bits over quantized layers).
            Defaults to None.
    """
    weight_bit_choices: Sequence[int] = (4, 5, 6, 7, 8)
    activation_bit_choices: Sequence[int] = ()
    bit_mutation_prob: float = 0.05
    avg_weight_bits: Optional[float] = None
    avg_activation_bits: Optional[float] = None
    size_mb: Optional[float] = None
    gbops: Optional[float] = None

    def __post_init__(self) -> None:
        self.weight_bit_choices = tuple(self.weight_bit_choices)
        self.activation_bit_choices = tuple(self.activation_bit_choices)
        for name in ('weight_bit_choices', 'activation_bit_choices'):
            for bits in getattr(self, name):
                if not isinstance(bits, int) or not 2 <= bits <= 8:
                    raise ValueError(f'{name} must hold ints in 2..8, got '
                                     f'{getattr(self, name)}')
        if not (self.weight_bit_choices or self.activation_bit_choices):
            raise ValueError('mixed precision needs weight_bit_choices or '
                             'activation_bit_choices, both are empty')
        if not 0.0 < self.bit_mutation_prob <= 1.0:
            raise ValueError(f'bit_mutation_prob must be in (0, 1], got '
                             f'{self.bit_mutation_prob}')
        if all(self.budget(key) is None for key in BUDGET_KEYS):
            raise ValueError(f'mixed precision needs a budget: set one of '
                             f'{BUDGET_KEYS}')
        for key in BUDGET_KEYS:
            value = self.budget(key)
            if value is not None and value <= 0:
                raise ValueError(f'{key} must be > 0, got {value}')

    def budget(self, key: str) -> Optional[float]:
        """The bound named ``key`` (one of :data:`BUDGET_KEYS`)."""
        return getattr(self, key)

    def budgets(self) -> Dict[str, float]:
        """Every bound that is set."""
        return {key: self.budget(key) for key in BUDGET_KEYS
                if self.budget(key) is not None}


@dataclass
class LayerCost:
    """A quantized layer's share of the model's cost.

    Args:
        name (str): Dotted module name.
        params (int): Number of weight parameters.
        macs (int): Multiply-accumulates per image.
        weight_quantizer (str): Name of its weight quantizer.
        input_quantizer (str, optional): Name of its input quantizer; None
            when the input stays float.
    """
    name: str
    params: int
    macs: int
    weight_quantizer: str
    input_quantizer: Optional[str]


def _macs_per_output(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return module.in_features
    if isinstance(module, nn.Conv2d):
        kernel_h, kernel_w = module.kernel_size
        return module.in_channels // module.groups * kernel_h * kernel_w
    raise TypeError(f'cannot count MACs of {type(module).__name__}, '
                    'expected a Linear or Conv2d')


@torch.no_grad()
def measure_layer_costs(model: nn.Module,
                        run_forward: Callable[[], object],
                        batch_size: int) -> List[LayerCost]:
    """Count parameters and MACs of every layer with a weight quantizer.

    Args:
        model (nn.Module): The quantized model.
        run_forward (Callable[[], object]): Runs it once on a batch.
        batch_size (int): Images in that batch (MACs are per image).

    Returns:
        list[LayerCost]: One entry per quantized Linear / Conv2d.
    """
    names = {id(q): name for name, q in iter_quantizers(model)}
    layers, outputs = [], {}
    for name, module in model.named_modules():
        weight_quantizer = getattr(module, 'weight_quantizer', None)
        if not isinstance(weight_quantizer, TensorQuantizer):
            continue
        if not isinstance(module, (nn.Linear, nn.Conv2d)):
            continue
        input_quantizer = getattr(module, 'input_quantizer', None)
        layers.append((name, module, weight_quantizer, input_quantizer))

    def make_hook(name):

        def hook(module, args, output):
            outputs[name] = outputs.get(name, 0) + output.numel()

        return hook

    handles = [m.register_forward_hook(make_hook(n)) for n, m, _, _ in layers]
    try:
        run_forward()
    finally:
        for handle in handles:
            handle.remove()
    costs = []
    for name, module, weight_quantizer, input_quantizer in layers:
        # Every output element (each token's each channel) costs the MACs
        # of one dot product.
        per_image = outputs.get(name, 0) // max(1, batch_size)
        macs = per_image * _macs_per_output(module)
        costs.append(
            LayerCost(
                name=name,
                params=module.weight.numel(),
                macs=macs,
                weight_quantizer=names[id(weight_quantizer)],
                input_quantizer=(names.get(id(input_quantizer)) if
                                 isinstance(input_quantizer, TensorQuantizer)
                                 else None)))
    return costs


class BitBudget:
    """Model cost as a function of the bit-widths, and the budget check.

    Args:
        layers (Sequence[LayerCost]): The quantized layers.
        activation_quantizers (Iterable[str]): Names of every activation
            quantizer in use (for the mean activation bit-width).
        other_params (int): Parameters that stay float (counted at 32 bits
            in the size). Defaults to 0.
        budgets (dict, optional): Bounds by key of :data:`BUDGET_KEYS`.
            Defaults to None (no bound).
    """

    def __init__(self,
                 layers: Sequence[LayerCost],
                 activation_quantizers: Iterable[str],
                 other_params: int = 0,
                 budgets: Optional[Dict[str, float]] = None) -> None:
        self.layers = list(layers)
        self.activation_quantizers = list(activation_quantizers)
        self.other_params = other_params
        self.budgets = dict(budgets or {})
        unknown = set(self.budgets) - set(BUDGET_KEYS)
        if unknown:
            raise ValueError(f'unknown budget keys {sorted(unknown)}, '
                             f'expected some of {BUDGET_KEYS}')
        self.weight_params = sum(layer.params for layer in self.layers)

    @classmethod
    def from_model(cls, model: nn.Module, run_forward: Callable[[], object],
                   batch_size: int,
                   budgets: Optional[Dict[str, float]] = None) -> 'BitBudget':
        """Measure a quantized model (one forward) and build its budget."""
        layers = measure_layer_costs(model, run_forward, batch_size)
        activation_quantizers = [
            name for name, quantizer in iter_quantizers(model)
            if quantizer.is_calibrated
            and not is_weight_quantizer(name, quantizer)
        ]
        quantized_weights = {
            id(model.get_submodule(layer.name).weight) for layer in layers
        }
        other_params = sum(p.numel() for p in model.parameters()
                           if id(p) not in quantized_weights)
        return cls(layers, activation_quantizers, other_params, budgets)

    def metrics(self, bits: Dict[str, int]) -> Dict[str, float]:
        """Size, BOPs and mean bit-widths for a bit assignment.

        Args:
            bits (dict[str, int]): Bits by quantizer name; every layer's
                weight quantizer must be present.

        Returns:
            dict[str, float]: ``avg_weight_bits``, ``avg_activation_bits``,
            ``size_mb`` and ``gbops`` (per image).
        """
        weight_bits = sum(layer.params * bits[layer.weight_quantizer]
                          for layer in self.layers)
        bops = sum(layer.macs * bits[layer.weight_quantizer] *
                   bits.get(layer.input_quantizer, FLOAT_BITS)
                   for layer in self.layers)
        activation_bits = [bits[name] for name in self.activation_quantizers]
        return dict(
            avg_weight_bits=weight_bits / max(1, self.weight_params),
            avg_activation_bits=(sum(activation_bits) /
                                 max(1, len(activation_bits))),
            size_mb=(weight_bits + self.other_params * FLOAT_BITS) / 8 / 1e6,
            gbops=bops / 1e9)

    def violations(self, bits: Dict[str, int]) -> Dict[str, Tuple[float,
                                                                   float]]:
        """``{key: (value, bound)}`` for every bound ``bits`` exceeds."""
        values = self.metrics(bits)
        # A relative tolerance keeps "exactly on budget" inside it despite
        # float rounding of the sums.
        return {
            key: (values[key], bound)
            for key, bound in self.budgets.items()
            if values[key] > bound * (1 + 1e-9)
        }

    def within(self, bits: Dict[str, int]) -> bool:
        """Whether ``bits`` meets every bound."""
        return not self.violations(bits)


def fit_to_budget(budget: BitBudget, quantizers: Dict[str, TensorQuantizer],
                  choices: Dict[str, Tuple[int, ...]]) -> Dict[str, int]:
    """Lower bit-widths until the model meets its budget, in place.

    Greedy: while over budget, the quantizer with the most bits (ties: the
    largest layer first) goes one allowed step down, its scale recomputed by
    its observer range. A start already within budget is left alone.

    Args:
        budget (BitBudget): The model's budget.
        quantizers (dict[str, TensorQuantizer]): Every quantizer by name.
        choices (dict[str, tuple[int]]): Allowed bits per searchable
            quantizer.

    Returns:
        dict[str, int]: The resulting bits by quantizer name.

    Raises:
        ValueError: When even the lowest choices exceed the budget.
    """
    params = {layer.weight_quantizer: layer.params for layer in budget.layers}
    bits = {name: q.bits for name, q in quantizers.items()}
    while not budget.within(bits):
        lowerable = [
            name for name, allowed in choices.items()
            if allowed and bits[name] > allowed[0]
        ]
        if not lowerable:
            raise ValueError(
                f'the budget {budget.budgets} cannot be met even at the '
                f'lowest allowed bit-widths: {budget.metrics(bits)}')
        name = max(lowerable, key=lambda n: (bits[n], params.get(n, 0), n))
        allowed = choices[name]
        lower = max(b for b in allowed if b < bits[name])
        quantizers[name].set_bits(lower)
        bits[name] = lower
    return bits
