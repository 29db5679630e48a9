"""Typed configuration of the evolutionary search, validated on creation.

Defaults follow method.md section 3 and 4; where the paper gives no number
the default is ours and says so in its docstring line.
"""
from dataclasses import asdict, dataclass, field, replace
from typing import Optional

from clamp_mm.synth.budget import DEFAULT_REFRESH_ITERATIONS
from .fitness_terms import FITNESSES
from .genome import MUTATION_MODES
from .mixed_precision import MixedPrecisionConfig

#: The sizes of the smoke-run search (:meth:`SearchConfig.fast`, the
#: benchmark's ``--quick``).
QUICK_SEARCH_FIELDS = dict(population_size=4, tournament_size=3, passes=1,
                           cycles=2, children_per_cycle=4,
                           refresh_iterations=1)
BLOCK_ORDERS = ('last_first', 'first_first')
BLOCK_INPUTS = ('fp', 'quantized')
#: Which of a block's calibrated quantizers the search changes.
SEARCHED_QUANTIZERS = ('all', 'weights', 'activations')


@dataclass
class SearchConfig:
    """Hyper-parameters of :class:`EvolutionaryCalibrator`.

    The search visits the blocks ``passes`` times (in ``block_order``); at
    each visit a block gets ``cycles`` cycles of ``children_per_cycle``
    children each. Every ``refresh_every_cycles`` cycles (counted over the
    whole search) the synthetic images are refreshed (cyclic adaptation).

    Args:
        population_size (int): Candidates kept per block (K). Defaults to 15.
        tournament_size (int): Candidates drawn, with replacement, per
            tournament; the fittest is the parent. Defaults to 10.
        passes (int): Passes over all blocks (P). Defaults to 10.
        cycles (int): Cycles per block visit (C). Defaults to 6.
        children_per_cycle (int, optional): Children evaluated per cycle.
            Defaults to None, meaning ``population_size`` (our choice: one
            generation's worth).
        crossover_prob (float): Probability that a child is the uniform
            crossover of two tournament winners before mutation. Defaults to
            0.0 (the method makes crossover optional).
        mutation_mode (str): How a scale mutation is sized, one of
            ``MUTATION_MODES``: ``'relative'`` ``s * (1 + U(-r, r))`` (the
            old rule), ``'absolute'`` (Evol-Q) ``|s + U(-r, r)|``, both with
            the ``mutation_range_*`` ``r``; ``'levels'``
            ``s * (1 + U(-l, l) / (2^b - 1))`` with ``l =
            mutation_levels``: the step is sized to each quantizer's
            quantization step. Defaults to ``'levels'``.
        mutation_levels (float): ``l`` of the ``'levels'`` mode: the most
            rounding levels a value at the end of a quantizer's range moves
            by in one mutation (chosen on the validation split, see
            docs/search_stage2.md). Defaults to 0.5.
        mutation_range_low_bits (float): ``r`` of the ``'relative'`` and
            ``'absolute'`` modes at ``low_bits`` bits or fewer.
            Defaults to 1e-3.
        mutation_range_high_bits (float): ``r`` at ``high_bits`` bits or
            more. Defaults to 1e-4.
        low_bits (int): See ``mutation_range_low_bits``. Defaults to 4.
        high_bits (int): See ``mutation_range_high_bits``; between the two,
            ``r`` is interpolated log-linearly (our choice). Defaults to 8.
        init_noise_range (float, optional): ``r`` of the noise added to the
            observer solution to seed the population (member 0 stays the
            exact observer solution). Defaults to None, meaning the mutation
            range of the quantizer's bit-width.
        block_order (str): ``'last_first'`` or ``'first_first'``. Defaults
            to ``'last_first'``.
        block_input (str): What a block is fed during its search: ``'fp'``
            (the cached FP input) or ``'quantized'`` (the current quantized
            model's own input, captured once per block visit). Defaults to
            ``'fp'``.
        searched_quantizers (str): Which quantizers of a block the search
            changes, one of ``SEARCHED_QUANTIZERS``: ``'all'``,
            ``'weights'`` (the activation quantizers keep their observer
            solution) or ``'activations'``. Defaults to ``'all'``.
        kernel_size (int): Side of the InfoNCE neighbourhood. Defaults to 3.
        temperature (float): InfoNCE temperature. Defaults to 0.2.
        output_mae_weight (float): ``lambda`` of the model-output MAE term
            of the ``'info_nce'`` fitness (our default). Defaults to 1.0.
        fitness (str): What ranks candidates, one of ``FITNESSES``
            (clamp_mm/search/fitness_terms.py): ``'info_nce'`` (local
            InfoNCE + ``lambda`` x model MAE of the visit), ``'mse'`` /
            ``'cosine'`` (block output against FP), ``'output_kl'`` (KL of
            FP to quantized logits, the rest of the network run per
            candidate), ``'info_nce_output_kl'`` (the paper's
            ``L_F = L_C2 + L_O``), ``'mse_output_kl'``. Their rank
            correlation with validation top-1 is in
            docs/fitness_diagnostic.md; the default won the validation
            search ablation (docs/search_stage2.md). Defaults to
            ``'info_nce'``.
        output_guard (bool): Keep a block visit's result only if the whole
            model's output disagrees no more with the FP model's on the
            current images than before the visit (KL of the logits, or
            1 - cosine of the features: the refresh's adaptive term);
            otherwise the block goes back to its state before the visit.
            Guards the block-local fitness against changes that hurt the
            model output (two quantized forwards per visit). Defaults to
            False.
        cyclic_adaptation (bool): Refresh the synthetic images during the
            search (method.md section 4); False for the ablation. Defaults
            to True.
        refresh_every_cycles (int, optional): Cycles between refreshes.
            Defaults to None, meaning ``cycles // 2``.
        refresh_iterations (int): Generator iterations per refresh ("a
            few"; our default). Defaults to 10.
        mixed_precision (MixedPrecisionConfig | dict, optional): Search the
            bit-widths too, under a budget. Defaults to None (fixed bits).
        seed (int): Seed of the search's own random generator. Defaults to
            0.
        work_dir (str, optional): Where state, plots and logs go; needed
            to resume. Defaults to None (nothing written).
        resume (bool): Continue from the state in ``work_dir`` when there is
            one. Defaults to True.
        progress_bar (bool): Show an mmengine progress bar per block visit.
            Defaults to True.
        plots (bool): Write fitness and bit-width plots to ``work_dir``.
            Defaults to True.
    """
    population_size: int = 15
    tournament_size: int = 10
    passes: int = 10
    cycles: int = 6
    children_per_cycle: Optional[int] = None
    crossover_prob: float = 0.0
    mutation_mode: str = 'levels'
    mutation_levels: float = 0.5
    mutation_range_low_bits: float = 1e-3
    mutation_range_high_bits: float = 1e-4
    low_bits: int = 4
    high_bits: int = 8
    init_noise_range: Optional[float] = None
    block_order: str = 'last_first'
    block_input: str = 'fp'
    searched_quantizers: str = 'all'
    kernel_size: int = 3
    temperature: float = 0.2
    output_mae_weight: float = 1.0
    fitness: str = 'info_nce'
    output_guard: bool = False
    cyclic_adaptation: bool = True
    refresh_every_cycles: Optional[int] = None
    refresh_iterations: int = DEFAULT_REFRESH_ITERATIONS
    mixed_precision: Optional[MixedPrecisionConfig] = None
    seed: int = 0
    work_dir: Optional[str] = None
    resume: bool = True
    progress_bar: bool = True
    plots: bool = True
    # Not a hyper-parameter: stop after this many block visits (tests and
    # time-boxed jobs; the state written lets a rerun continue).
    stop_after_visits: Optional[int] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.mixed_precision, dict):
            self.mixed_precision = MixedPrecisionConfig(**self.mixed_precision)
        if self.children_per_cycle is None:
            self.children_per_cycle = self.population_size
        if self.refresh_every_cycles is None:
            self.refresh_every_cycles = max(1, self.cycles // 2)
        if not isinstance(self.population_size, int) or \
                isinstance(self.population_size, bool) or \
                self.population_size < 2:
            raise ValueError(f'population_size must be an int >= 2, got '
                             f'{self.population_size!r}')
        for name in ('tournament_size', 'passes', 'cycles',
                     'children_per_cycle', 'refresh_every_cycles',
                     'kernel_size'):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or \
                    value < 1:
                raise ValueError(f'{name} must be an int >= 1, got {value!r}')
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f'kernel_size must be odd, got {self.kernel_size}')
        if not 0.0 <= self.crossover_prob <= 1.0:
            raise ValueError(
                f'crossover_prob must be in [0, 1], got {self.crossover_prob}')
        for name in ('mutation_range_low_bits', 'mutation_range_high_bits',
                     'temperature'):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f'{name} must be > 0, got {getattr(self, name)}')
        if self.mutation_mode not in MUTATION_MODES:
            raise ValueError(f'mutation_mode must be one of '
                             f'{MUTATION_MODES}, got {self.mutation_mode!r}')
        if not self.mutation_levels > 0:
            raise ValueError(f'mutation_levels must be > 0, got '
                             f'{self.mutation_levels}')
        if self.fitness not in FITNESSES:
            raise ValueError(f'fitness must be one of {tuple(FITNESSES)}, '
                             f'got {self.fitness!r}')
        if self.init_noise_range is not None and self.init_noise_range < 0:
            raise ValueError(f'init_noise_range must be >= 0, got '
                             f'{self.init_noise_range}')
        if self.output_mae_weight < 0:
            raise ValueError(f'output_mae_weight must be >= 0, got '
                             f'{self.output_mae_weight}')
        if not self.low_bits < self.high_bits:
            raise ValueError(f'low_bits ({self.low_bits}) must be below '
                             f'high_bits ({self.high_bits})')
        if self.block_order not in BLOCK_ORDERS:
            raise ValueError(f'block_order must be one of {BLOCK_ORDERS}, '
                             f'got {self.block_order!r}')
        if self.block_input not in BLOCK_INPUTS:
            raise ValueError(f'block_input must be one of {BLOCK_INPUTS}, '
                             f'got {self.block_input!r}')
        if self.searched_quantizers not in SEARCHED_QUANTIZERS:
            raise ValueError(f'searched_quantizers must be one of '
                             f'{SEARCHED_QUANTIZERS}, got '
                             f'{self.searched_quantizers!r}')
        if self.refresh_iterations < 0:
            raise ValueError(f'refresh_iterations must be >= 0, got '
                             f'{self.refresh_iterations}')

    @classmethod
    def fast(cls, **overrides) -> 'SearchConfig':
        """A tiny search for CPU tests and smoke runs.

        Args:
            **overrides: Any field, replacing the preset's value.

        Returns:
            SearchConfig: Population 4, tournament 3, 1 pass, 2 cycles of 4
            children, 1 refresh iteration, no progress bar, no plots.
        """
        preset = dict(QUICK_SEARCH_FIELDS, progress_bar=False, plots=False)
        preset.update(overrides)
        return cls(**preset)

    def fingerprint(self) -> dict:
        """The fields that decide the search's result (for safe resuming)."""
        ignored = {'work_dir', 'resume', 'progress_bar', 'plots',
                   'stop_after_visits'}
        values = asdict(self)
        return {k: v for k, v in values.items() if k not in ignored}

    def replace(self, **changes) -> 'SearchConfig':
        """A copy with some fields changed."""
        return replace(self, **changes)

