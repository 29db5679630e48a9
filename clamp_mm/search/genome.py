"""The genome of one block: its quantizers' scales, zero points and bits.

A genome is three flat tensors, so that mutating, crossing and copying a
candidate costs a handful of tensor operations whatever the number of
quantizers; a :class:`GenomeLayout` knows which slice belongs to which
:class:`~clamp_mm.quant.TensorQuantizer` and writes a genome into them.
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from clamp_mm.quant.tensor_quantizer import TensorQuantizer


@dataclass
class Genome:
    """One candidate for a block's quantization parameters.

    Args:
        scale (Tensor): Every quantizer's scale, flattened and concatenated
            (per-channel weight scales, per-tensor activation scales).
        zero_point (Tensor): The zero points, laid out like ``scale``.
        bits (Tensor): int64, one bit-width per quantizer.
    """
    scale: torch.Tensor
    zero_point: torch.Tensor
    bits: torch.Tensor

    def clone(self) -> 'Genome':
        """An independent copy."""
        return Genome(self.scale.clone(), self.zero_point.clone(),
                      self.bits.clone())

    def to_state(self) -> Dict[str, torch.Tensor]:
        """Plain tensors for ``torch.save`` (loadable with weights_only)."""
        return dict(scale=self.scale, zero_point=self.zero_point,
                    bits=self.bits)

    @classmethod
    def from_state(cls, state: Dict[str, torch.Tensor]) -> 'Genome':
        """Inverse of :meth:`to_state`."""
        return cls(state['scale'], state['zero_point'], state['bits'])


def is_weight_quantizer(name: str, quantizer: TensorQuantizer) -> bool:
    """Whether a quantizer quantizes a weight (else an activation)."""
    return quantizer.point == 'weight' or name.endswith('weight_quantizer')


class GenomeLayout:
    """Which slice of a genome belongs to which quantizer of a block.

    Args:
        quantizers (Sequence[tuple[str, TensorQuantizer]]): The block's
            calibrated quantizers, ``(dotted_name, quantizer)``.
        weight_bit_choices (Sequence[int]): Bit-widths a weight quantizer
            may take; empty keeps weight bits fixed. Defaults to ().
        activation_bit_choices (Sequence[int]): The same for activation
            quantizers. Defaults to ().
    """

    def __init__(self,
                 quantizers: Sequence[Tuple[str, TensorQuantizer]],
                 weight_bit_choices: Sequence[int] = (),
                 activation_bit_choices: Sequence[int] = ()) -> None:
        if not quantizers:
            raise ValueError('a block genome needs at least one calibrated '
                             'quantizer, got none')
        self.names: List[str] = [name for name, _ in quantizers]
        self.quantizers: List[TensorQuantizer] = [q for _, q in quantizers]
        self.shapes = [tuple(q.scale.shape) for q in self.quantizers]
        self.numels = [q.scale.numel() for q in self.quantizers]
        self.offsets = [0]
        for numel in self.numels:
            self.offsets.append(self.offsets[-1] + numel)
        self.is_weight = [
            is_weight_quantizer(name, q) for name, q in quantizers
        ]
        self.bit_choices: List[Tuple[int, ...]] = []
        for quantizer, weight in zip(self.quantizers, self.is_weight):
            choices = tuple(sorted(
                weight_bit_choices if weight else activation_bit_choices))
            if choices and quantizer.bits not in choices:
                raise ValueError(
                    f'quantizer {quantizer.name or "?"} has {quantizer.bits} '
                    f'bits, not among the allowed choices {choices}')
            self.bit_choices.append(choices)
        self._numels_tensor = torch.tensor(self.numels)
        self.observer_solutions = self._observer_solutions()

    @property
    def num_quantizers(self) -> int:
        """Number of quantizers in the block."""
        return len(self.quantizers)

    @property
    def searches_bits(self) -> bool:
        """Whether any quantizer's bit-width is part of the search."""
        return any(self.bit_choices)

    def _observer_solutions(self) -> List[Dict[int, Tuple[torch.Tensor,
                                                          torch.Tensor]]]:
        """Per quantizer and allowed bit-width, the observer's scale and zp.

        Computed from the stored range (what calibration left), so a bit
        change can restart from the observer's answer for the new width.
        """
        solutions = []
        for quantizer, choices in zip(self.quantizers, self.bit_choices):
            saved = (quantizer.bits, quantizer.scale.clone(),
                     quantizer.zero_point.clone())
            per_bits = {}
            for bits in choices:
                quantizer.set_bits(bits)
                per_bits[bits] = (quantizer.scale.flatten().clone(),
                                  quantizer.zero_point.flatten().clone())
            quantizer.bits = saved[0]
            quantizer.scale.copy_(saved[1])
            quantizer.zero_point.copy_(saved[2])
            solutions.append(per_bits)
        return solutions

    # ---- reading and writing the block ---------------------------------------
    def read(self) -> Genome:
        """The genome the block's quantizers hold now."""
        scale = torch.cat([q.scale.detach().flatten().float()
                           for q in self.quantizers])
        zero_point = torch.cat([q.zero_point.detach().flatten().float()
                                for q in self.quantizers])
        bits = torch.tensor([q.bits for q in self.quantizers])
        return Genome(scale, zero_point, bits)

    def write(self, genome: Genome) -> None:
        """Put ``genome`` into the block's quantizers (in place)."""
        scales = genome.scale.split(self.numels)
        zero_points = genome.zero_point.split(self.numels)
        bits = genome.bits.tolist()
        for index, quantizer in enumerate(self.quantizers):
            quantizer.bits = bits[index]
            quantizer.scale.copy_(scales[index].view(self.shapes[index]))
            quantizer.zero_point.copy_(
                zero_points[index].view(self.shapes[index]))

    def segment(self, index: int) -> slice:
        """The slice of quantizer ``index`` in the flat tensors."""
        return slice(self.offsets[index], self.offsets[index + 1])

    def expand(self, per_quantizer: torch.Tensor) -> torch.Tensor:
        """Repeat one value per quantizer over that quantizer's elements."""
        return per_quantizer.repeat_interleave(self._numels_tensor)

    def bits_by_name(self, genome: Genome) -> Dict[str, int]:
        """``{quantizer name: bits}`` of a genome."""
        return dict(zip(self.names, genome.bits.tolist()))


def mutation_range(bits: int, low_bits: int, high_bits: int,
                   range_low_bits: float, range_high_bits: float) -> float:
    """``r`` of the scale mutation for a bit-width.

    ``range_low_bits`` at ``low_bits`` or fewer, ``range_high_bits`` at
    ``high_bits`` or more, log-linear in between.
    """
    if bits <= low_bits:
        return range_low_bits
    if bits >= high_bits:
        return range_high_bits
    weight = (bits - low_bits) / (high_bits - low_bits)
    return math.exp((1 - weight) * math.log(range_low_bits) +
                    weight * math.log(range_high_bits))


#: How a scale mutation is sized (see :meth:`GenomeOperators.perturb_scales`).
MUTATION_MODES = ('relative', 'absolute', 'levels')


class GenomeOperators:
    """Mutation, crossover and seeding on one :class:`GenomeLayout`.

    All randomness comes from ``generator``, and every call draws the same
    amount of random numbers whatever the outcome, so a resumed search
    replays an uninterrupted one exactly.

    Args:
        layout (GenomeLayout): The block's layout.
        generator (torch.Generator): The search's random generator.
        low_bits (int): See :func:`mutation_range`.
        high_bits (int): See :func:`mutation_range`.
        range_low_bits (float): See :func:`mutation_range`.
        range_high_bits (float): See :func:`mutation_range`.
        bit_mutation_prob (float): Per quantizer with bit choices, the
            probability of a +-1 bit change. Defaults to 0.0.
        mode (str): How the scale noise is sized, one of
            :data:`MUTATION_MODES`: ``'relative'`` ``s * (1 + U(-r, r))``,
            ``'absolute'`` (Evol-Q) ``|s + U(-r, r)|``, both with ``r`` from
            :func:`mutation_range`; ``'levels'``
            ``s * (1 + U(-l, l) / (2^b - 1))``, which moves a value at the
            end of the quantizer's range by at most ``l`` rounding levels
            whatever its scale and bit-width. Defaults to ``'relative'``.
        levels (float): ``l`` of the ``'levels'`` mode. Defaults to 0.5.
    """

    def __init__(self, layout: GenomeLayout, generator: torch.Generator,
                 low_bits: int, high_bits: int, range_low_bits: float,
                 range_high_bits: float,
                 bit_mutation_prob: float = 0.0,
                 mode: str = 'relative',
                 levels: float = 0.5) -> None:
        if mode not in MUTATION_MODES:
            raise ValueError(f'mutation mode must be one of {MUTATION_MODES}'
                             f', got {mode!r}')
        self.layout = layout
        self.generator = generator
        self.bit_mutation_prob = bit_mutation_prob
        self.mode = mode
        self.levels = levels
        self._range_args = (low_bits, high_bits, range_low_bits,
                            range_high_bits)
        self._range_cache: Dict[Tuple[int, ...], torch.Tensor] = {}

    def _range_of_bits(self, bits: int) -> float:
        if self.mode == 'levels':
            return self.levels / (2**bits - 1)
        return mutation_range(bits, *self._range_args)

    def element_ranges(self, bits: torch.Tensor) -> torch.Tensor:
        """Per genome element, the mutation range of its bit-width.

        In ``'levels'`` mode the range is relative (``l / (2^b - 1)``);
        otherwise it is :func:`mutation_range`'s ``r``.
        """
        key = tuple(bits.tolist())
        if key not in self._range_cache:
            per_quantizer = torch.tensor(
                [self._range_of_bits(b) for b in key])
            self._range_cache[key] = self.layout.expand(per_quantizer)
        return self._range_cache[key]

    def perturb_scales(self, genome: Genome,
                       noise_range: Optional[float] = None) -> Genome:
        """Add uniform noise to every scale; zero points unchanged.

        ``'relative'`` and ``'levels'``: ``s * (1 + U(-r, r))``;
        ``'absolute'``: ``|s + U(-r, r)|`` (kept above 1e-8).

        Args:
            genome (Genome): Parent (not modified).
            noise_range (float, optional): One ``r`` for every element, in
                the mode's unit (rounding levels in ``'levels'`` mode).
                Defaults to None: the range of each element's bit-width.
        """
        if noise_range is None:
            ranges = self.element_ranges(genome.bits).to(genome.scale.device)
        elif self.mode == 'levels':
            per_quantizer = torch.tensor(
                [noise_range / (2**b - 1) for b in genome.bits.tolist()])
            ranges = self.layout.expand(per_quantizer).to(genome.scale.device)
        else:
            ranges = noise_range
        # Draws happen on the CPU generator whatever the device, so a run
        # is reproducible across devices and resumes.
        uniform = torch.rand(genome.scale.shape,
                             generator=self.generator).to(genome.scale.device)
        noise = (2 * uniform - 1) * ranges
        if self.mode == 'absolute':
            scale = (genome.scale + noise).abs().clamp_(min=1e-8)
        else:
            scale = genome.scale * (1 + noise)
        return Genome(scale, genome.zero_point.clone(), genome.bits.clone())

    def mutate_bits(self, genome: Genome) -> Genome:
        """Move some quantizers' bit-width one step up or down, in place.

        The quantizer's scale becomes the observer's scale for the new
        width times the ratio the search had found against the observer at
        the old width; its zero point becomes the observer's.
        """
        layout = self.layout
        draws = torch.rand(layout.num_quantizers, generator=self.generator)
        ups = torch.rand(layout.num_quantizers, generator=self.generator)
        if not layout.searches_bits or self.bit_mutation_prob <= 0:
            return genome
        for index in torch.nonzero(
                draws < self.bit_mutation_prob).flatten().tolist():
            choices = layout.bit_choices[index]
            if not choices:
                continue
            old_bits = int(genome.bits[index])
            position = choices.index(old_bits)
            position += 1 if ups[index] < 0.5 else -1
            if not 0 <= position < len(choices):
                continue
            new_bits = choices[position]
            segment = layout.segment(index)
            old_scale, _ = layout.observer_solutions[index][old_bits]
            new_scale, new_zero_point = (
                layout.observer_solutions[index][new_bits])
            ratio = genome.scale[segment] / old_scale
            genome.scale[segment] = new_scale * ratio
            genome.zero_point[segment] = new_zero_point
            genome.bits[index] = new_bits
        return genome

    def crossover(self, first: Genome, second: Genome) -> Genome:
        """Uniform crossover, elementwise for scales, per quantizer for bits.

        Where the parents disagree on a quantizer's bit-width, its whole
        segment comes from the parent whose bit-width is taken, so scale,
        zero point and bits stay consistent.
        """
        layout = self.layout
        take_first = torch.rand(first.scale.shape,
                                generator=self.generator) < 0.5
        take_first_bits = torch.rand(layout.num_quantizers,
                                     generator=self.generator) < 0.5
        bits_differ = (first.bits != second.bits).cpu()
        if bool(bits_differ.any()):
            whole = layout.expand(bits_differ)
            take_first = torch.where(whole, layout.expand(take_first_bits),
                                     take_first)
        take_first = take_first.to(first.scale.device)
        take_first_bits = take_first_bits.to(first.bits.device)
        bits_differ = bits_differ.to(first.bits.device)
        bits = torch.where(take_first_bits | ~bits_differ, first.bits,
                           second.bits)
        return Genome(torch.where(take_first, first.scale, second.scale),
                      torch.where(take_first, first.zero_point,
                                  second.zero_point), bits)
