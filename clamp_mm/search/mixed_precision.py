"""Mixed precision: bit-width choices, budgets and what a model costs.

A :class:`BitBudget` knows, for every quantized layer of a model, its
parameter count, its multiply-accumulates per image and which quantizers
set its weight and input bit-widths; from any assignment of bits it computes
the model's size, BOPs and average bit-widths (method.md section 1) fast
enough to check every candidate of the search.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Optional, Sequence, Tuple

import torch
from torch import nn

from clamp_mm.quant.attention import QuantAttentionMixin
from clamp_mm.quant.report import FLOAT_BITS, model_cost
from clamp_mm.quant.tensor_quantizer import TensorQuantizer, iter_quantizers
from .genome import is_weight_quantizer
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
        size_mb (float, optional): Bound on the model size in MB (2^20
            bytes): quantized weights at their bits, every other parameter
            at 32 bits. Defaults to None.
        gbops (float, optional): Bound on the giga bit-operations per image
            (MACs x operand bits over every Linear, Conv2d and attention
            matmul, float operands at 32 bits, as
            :func:`clamp_mm.quant.model_cost` counts). Defaults to None.
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
class CostTerm:
    """One layer's or attention matmul's share of the BOPs.

    Args:
        name (str): Name in :func:`clamp_mm.quant.model_cost`'s report.
        macs (int): Multiply-accumulates per image.
        first_operand (str, optional): Quantizer setting the bits of the
            weight (or of the first matmul operand); None when float.
        second_operand (str, optional): Quantizer setting the bits of the
            input (or second matmul operand); None when float.
    """
    name: str
    macs: int
    first_operand: Optional[str]
    second_operand: Optional[str]


def _quantizer_name(module: Optional[nn.Module],
                    names: Dict[int, str]) -> Optional[str]:
    if isinstance(module, TensorQuantizer):
        return names.get(id(module))
    return None


def _operands(name: str, modules: Dict[str, nn.Module],
              names: Dict[int, str]) -> Tuple[Optional[str], Optional[str]]:
    """Which quantizers set the bits of a report entry's two operands.

    Mirrors :func:`clamp_mm.quant.model_cost`: q x k and softmax x v for
    the attention matmuls; weight x input for a layer, where an attention
    projection without its own input quantizer takes the attention's output
    quantizer.
    """
    owner, _, matmul = name.rpartition('.')
    attention = modules.get(owner)
    if matmul in ('qk', 'av') and isinstance(attention, QuantAttentionMixin):
        if matmul == 'qk':
            return (_quantizer_name(attention.q_quantizer, names),
                    _quantizer_name(attention.k_quantizer, names))
        return (_quantizer_name(attention.softmax_quantizer, names),
                _quantizer_name(attention.v_quantizer, names))
    module = modules[name]
    weight = _quantizer_name(getattr(module, 'weight_quantizer', None), names)
    activation = _quantizer_name(getattr(module, 'input_quantizer', None),
                                 names)
    parent = modules.get(owner)
    if activation is None and isinstance(parent, QuantAttentionMixin):
        activation = _quantizer_name(parent.output_quantizer, names)
    return weight, activation


class BitBudget:
    """Model cost as a function of the bit-widths, and the budget check.

    Size and BOPs follow :func:`clamp_mm.quant.model_cost` (size in MB of
    2^20 bytes; BOPs of every Linear, Conv2d and attention matmul, float
    operands at 32 bits), rewritten as sums over quantizer bit-widths so a
    candidate is checked without running the model.

    Args:
        terms (Sequence[CostTerm]): BOPs terms per image.
        weight_params (dict[str, int]): Parameters per weight quantizer.
        activation_quantizers (Iterable[str]): Names of every calibrated
            activation quantizer (for the mean activation bit-width).
        float_params (int): Parameters that stay float (32 bits).
        budgets (dict, optional): Bounds by key of :data:`BUDGET_KEYS`.
            Defaults to None (no bound).
    """

    def __init__(self,
                 terms: Sequence[CostTerm],
                 weight_params: Dict[str, int],
                 activation_quantizers: Iterable[str],
                 float_params: int = 0,
                 budgets: Optional[Dict[str, float]] = None) -> None:
        self.terms = list(terms)
        self.weight_params = dict(weight_params)
        self.activation_quantizers = list(activation_quantizers)
        self.float_params = float_params
        self.budgets = dict(budgets or {})
        unknown = set(self.budgets) - set(BUDGET_KEYS)
        if unknown:
            raise ValueError(f'unknown budget keys {sorted(unknown)}, '
                             f'expected some of {BUDGET_KEYS}')
        self.total_weight_params = sum(self.weight_params.values())

    @classmethod
    def from_model(cls, model: nn.Module, image: torch.Tensor,
                   forward: Callable[[nn.Module, torch.Tensor], object],
                   budgets: Optional[Dict[str, float]] = None) -> 'BitBudget':
        """Measure a quantized model on one image and build its budget.

        Args:
            model (nn.Module): The quantized model.
            image (Tensor): One normalised image, (1, 3, H, W).
            forward (Callable): ``forward(model, images)`` runs the model.
            budgets (dict, optional): Bounds. Defaults to None.

        Raises:
            RuntimeError: When the rewritten cost disagrees with
                :func:`clamp_mm.quant.model_cost` on the current bits.
        """
        names = {id(q): name for name, q in iter_quantizers(model)}
        modules = dict(model.named_modules())
        report = model_cost(model, image, forward)
        terms = [
            CostTerm(layer.name, layer.macs, *_operands(layer.name, modules,
                                                        names))
            for layer in report.layers
        ]
        weight_params, quantized = {}, set()
        for module in modules.values():
            quantizer = getattr(module, 'weight_quantizer', None)
            weight = getattr(module, 'weight', None)
            if isinstance(quantizer, TensorQuantizer) and isinstance(
                    weight, nn.Parameter) and id(weight) not in quantized:
                quantized.add(id(weight))
                weight_params[names[id(quantizer)]] = weight.numel()
        float_params = sum(p.numel() for p in model.parameters()
                           if id(p) not in quantized)
        activation_quantizers = [
            name for name, q in iter_quantizers(model)
            if q.is_calibrated and not is_weight_quantizer(name, q)
        ]
        budget = cls(terms, weight_params, activation_quantizers,
                     float_params, budgets)
        metrics = budget.metrics(
            {name: q.bits for name, q in iter_quantizers(model)})
        if (abs(metrics['gbops'] * 1e9 - report.bops) > 1e-6 * report.bops
                or abs(metrics['size_mb'] - report.size_mb) >
                1e-9 * report.size_mb):
            raise RuntimeError(
                f'the mixed-precision cost model disagrees with '
                f'clamp_mm.quant.model_cost: {metrics} vs {report}')
        return budget

    def metrics(self, bits: Dict[str, int]) -> Dict[str, float]:
        """Size, BOPs and mean bit-widths for a bit assignment.

        Args:
            bits (dict[str, int]): Bits by quantizer name.

        Returns:
            dict[str, float]: ``avg_weight_bits`` (parameter-weighted),
            ``avg_activation_bits`` (mean over activation quantizers),
            ``size_mb`` (2^20 bytes) and ``gbops`` (per image).
        """
        weight_bits = sum(params * bits[name]
                          for name, params in self.weight_params.items())
        bops = sum(
            term.macs * bits.get(term.first_operand, FLOAT_BITS) *
            bits.get(term.second_operand, FLOAT_BITS) for term in self.terms)
        activation_bits = [bits[name] for name in self.activation_quantizers]
        return dict(
            avg_weight_bits=weight_bits / max(1, self.total_weight_params),
            avg_activation_bits=(sum(activation_bits) /
                                 max(1, len(activation_bits))),
            size_mb=(weight_bits + self.float_params * FLOAT_BITS) / 8 /
            2**20,
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
    params = budget.weight_params
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
