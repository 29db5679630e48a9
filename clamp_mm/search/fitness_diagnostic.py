"""Does a fitness predict accuracy? Sample candidates, score, correlate.

Around the observer solution of a calibrated quantized model, candidates are
drawn at several mutation step sizes (``'levels'`` mode: at most ``l``
rounding levels at the end of each quantizer's range), one block at a time
and for the whole model at once. Each candidate gets every fitness term on
the synthetic batch (with the cached FP block input and with the quantized
model's own block input) and a held-out accuracy from ``evaluate``; the
Spearman rank correlation between ``-fitness`` and accuracy says how well a
fitness ranks candidates the way accuracy does.

Labelled data enter only through ``evaluate`` (the caller's validation
split), and only to measure the fitnesses, never to pick a candidate. When
``evaluate`` returns per-image correctness, each candidate also keeps its
top-1 on the two halves of the split (even- and odd-indexed images): how
well one half ranks the candidates like the other is the noise ceiling of
any fitness against that top-1 (:func:`noise_ceiling`).
"""
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import MMLogger
from scipy.stats import spearmanr
from torch import nn

from .block_cache import record_block_io
from .config import SearchConfig
from .fitness_terms import output_divergence, token_terms
from .genome import Genome, GenomeLayout, GenomeOperators
from .search_run import SearchRun

#: Fitness variants reported: name -> (input the block is fed, combine).
VARIANTS: Dict[str, tuple] = {
    'info_nce (FP input; the original)': ('fp', lambda t: t['info_nce']),
    'info_nce (quantized input)': ('quantized', lambda t: t['info_nce']),
    'mse (FP input)': ('fp', lambda t: t['mse']),
    'mse (quantized input)': ('quantized', lambda t: t['mse']),
    'cosine (FP input)': ('fp', lambda t: t['cosine']),
    'cosine (quantized input)': ('quantized', lambda t: t['cosine']),
    'output_kl (FP input)': ('fp', lambda t: t['output_kl']),
    'output_kl (quantized input)': ('quantized', lambda t: t['output_kl']),
    'L_F = info_nce + output_kl (FP input)':
    ('fp', lambda t: t['info_nce'] + t['output_kl']),
    'L_F = info_nce + output_kl (quantized input)':
    ('quantized', lambda t: t['info_nce'] + t['output_kl']),
    'mse + output_kl (FP input)': ('fp', lambda t: t['mse'] + t['output_kl']),
    'mse + output_kl (quantized input)':
    ('quantized', lambda t: t['mse'] + t['output_kl']),
}

#: Fitness variant -> (``SearchConfig.fitness``, ``block_input``).
SEARCH_FIELDS: Dict[str, tuple] = {
    'info_nce (FP input; the original)': ('info_nce', 'fp'),
    'info_nce (quantized input)': ('info_nce', 'quantized'),
    'mse (FP input)': ('mse', 'fp'),
    'mse (quantized input)': ('mse', 'quantized'),
    'cosine (FP input)': ('cosine', 'fp'),
    'cosine (quantized input)': ('cosine', 'quantized'),
    'output_kl (FP input)': ('output_kl', 'fp'),
    'output_kl (quantized input)': ('output_kl', 'quantized'),
    'L_F = info_nce + output_kl (FP input)': ('info_nce_output_kl', 'fp'),
    'L_F = info_nce + output_kl (quantized input)':
    ('info_nce_output_kl', 'quantized'),
    'mse + output_kl (FP input)': ('mse_output_kl', 'fp'),
    'mse + output_kl (quantized input)': ('mse_output_kl', 'quantized'),
}


@dataclass
class CandidateRecord:
    """One sampled candidate.

    Args:
        scope (str): The block's name, or ``'whole model'``.
        step_levels (float): Its mutation step (0 for the observer).
        accuracy (float): ``evaluate``'s figure with the candidate in.
        terms (dict[str, dict[str, float]]): Per block input (``'fp'``,
            ``'quantized'``), the fitness terms.
        half_accuracies (tuple[float, float]): Top-1 on the even- and the
            odd-indexed validation images; empty when ``evaluate`` gave a
            single figure. Defaults to ().
    """
    scope: str
    step_levels: float
    accuracy: float
    terms: Dict[str, Dict[str, float]] = field(default_factory=dict)
    half_accuracies: Tuple[float, ...] = ()

    def fitness(self, variant: str) -> float:
        """The value of a :data:`VARIANTS` fitness."""
        block_input, combine = VARIANTS[variant]
        return combine(self.terms[block_input])


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman of ``x`` with ``y`` (NaN if undefined: < 3 or constant)."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return float('nan')
    return float(spearmanr(x, y).statistic)


def spearman(fitness: Sequence[float], accuracy: Sequence[float]) -> float:
    """Rank correlation of ``-fitness`` with accuracy (NaN if undefined)."""
    return rank_correlation([-f for f in fitness], accuracy)


def _step_groups(records: Sequence[CandidateRecord], scope: str,
                 within_steps: bool) -> List[List[CandidateRecord]]:
    """The scope's candidates, all together or per step (with the
    observer candidate in every step's group)."""
    chosen = [r for r in records if r.scope == scope]
    if not within_steps:
        return [chosen]
    steps = sorted({r.step_levels for r in chosen if r.step_levels > 0})
    return [[r for r in chosen if r.step_levels in (0, step)]
            for step in steps]


def nan_mean(values: Sequence[float]) -> float:
    """Mean of the values that are not NaN (NaN if none)."""
    values = [v for v in values if v == v]
    return sum(values) / len(values) if values else float('nan')


def correlations(records: Sequence[CandidateRecord], scope: str,
                 within_steps: bool = False) -> Dict[str, float]:
    """Spearman of every variant over the candidates of one scope.

    Args:
        records (Sequence[CandidateRecord]): All records.
        scope (str): Block name or ``'whole model'``.
        within_steps (bool): Correlate within each step size (the
            observer candidate joins every step), then average; otherwise
            pool every step size. Defaults to False.

    Returns:
        dict[str, float]: Per variant.
    """
    groups = _step_groups(records, scope, within_steps)
    return {variant: nan_mean([spearman([r.fitness(variant) for r in group],
                                     [r.accuracy for r in group])
                            for group in groups])
            for variant in VARIANTS}


def noise_ceiling(records: Sequence[CandidateRecord], scope: str,
                  within_steps: bool = True) -> Dict[str, float]:
    """How well can *any* fitness correlate with this validation top-1?

    The top-1 of a candidate is itself a noisy measurement (a few thousand
    images; candidates differ by a few tenths of a point). The Spearman of
    the even-image top-1 with the odd-image top-1 over the candidates
    (``split_half``) is what an independent measurement on half the images
    reaches; the Spearman-Brown formula turns it into the reliability of
    the whole-split top-1, and its square root bounds the correlation of
    a fitness that ranked candidates by their true accuracy with the
    measured top-1 (Pearson formulas applied to ranks: an approximation).

    Args:
        records (Sequence[CandidateRecord]): All records, with
            ``half_accuracies``.
        scope (str): Block name or ``'whole model'``.
        within_steps (bool): Per step size, then averaged, as the fitness
            correlations. Defaults to True.

    Returns:
        dict[str, float]: ``split_half``, ``reliability`` and ``ceiling``
        (NaN when the records have no halves).
    """
    groups = _step_groups(records, scope, within_steps)
    split_half = nan_mean([
        rank_correlation([r.half_accuracies[0] for r in group],
                         [r.half_accuracies[1] for r in group])
        for group in groups if all(r.half_accuracies for r in group)])
    if split_half != split_half:
        return dict(split_half=split_half, reliability=split_half,
                    ceiling=split_half)
    reliability = 2 * split_half / (1 + split_half) if split_half > 0 else 0.0
    return dict(split_half=split_half, reliability=reliability,
                ceiling=math.sqrt(reliability))


def _accuracy_of(result: Union[float, torch.Tensor]
                 ) -> Tuple[float, Tuple[float, ...]]:
    """(top-1 %, halves) from a top-1 or a per-image correctness vector."""
    if not torch.is_tensor(result):
        return float(result), ()
    hits = result.reshape(-1).float()
    if hits.numel() < 2:
        raise ValueError('evaluate must return a top-1 figure or the '
                         'correctness of at least 2 images, got '
                         f'{hits.numel()}')
    return (100.0 * float(hits.mean()),
            (100.0 * float(hits[0::2].mean()),
             100.0 * float(hits[1::2].mean())))


class FitnessDiagnostic:
    """Samples candidates of a calibrated model and records their terms.

    Args:
        model (nn.Module): Quantized, calibrated (the observer solution).
        images (Tensor): The synthetic batch the fitness is computed on.
        evaluate (Callable[[], float | Tensor]): Held-out accuracy of
            ``model`` as its quantizers are now (the caller's validation
            split): a top-1 in percent, or the per-image correctness (bool
            tensor), which also gives each candidate's half-split top-1
            for :func:`noise_ceiling`.
        step_levels (Sequence[float]): Mutation steps, in rounding levels.
            Defaults to (0.25, 0.5, 1.0, 2.0).
        candidates_per_step (int): Candidates per step and scope.
            Defaults to 6.
        seed (int): Seed of the candidate draws. Defaults to 0.
        config (SearchConfig, optional): InfoNCE kernel and temperature.
            Defaults to None (the defaults).
    """

    def __init__(self, model: nn.Module, images: torch.Tensor,
                 evaluate: Callable[[], Union[float, torch.Tensor]],
                 step_levels: Sequence[float] = (0.25, 0.5, 1.0, 2.0),
                 candidates_per_step: int = 6, seed: int = 0,
                 config: Optional[SearchConfig] = None) -> None:
        if candidates_per_step < 1 or not step_levels or min(step_levels) <= 0:
            raise ValueError(f'need candidates_per_step >= 1 and positive '
                             f'step_levels, got {candidates_per_step} and '
                             f'{tuple(step_levels)}')
        config = (config or SearchConfig()).replace(
            fitness='output_kl', progress_bar=False, plots=False,
            work_dir=None, cyclic_adaptation=False)
        self.run = SearchRun(config, model, images)
        self.run._build_layouts()
        self.evaluate = evaluate
        self.step_levels = tuple(step_levels)
        self.candidates_per_step = candidates_per_step
        self.generator = torch.Generator().manual_seed(seed)
        self.logger = MMLogger.get_current_instance()
        self.records: List[CandidateRecord] = []

    def _record(self, scope: str, step: float,
                terms: Dict[str, Dict[str, float]]) -> CandidateRecord:
        accuracy, halves = _accuracy_of(self.evaluate())
        return CandidateRecord(scope, step, accuracy, terms, halves)

    def _operators(self, layout: GenomeLayout,
                   levels: float) -> GenomeOperators:
        config = self.run.config
        return GenomeOperators(layout, self.generator, config.low_bits,
                               config.high_bits,
                               config.mutation_range_low_bits,
                               config.mutation_range_high_bits,
                               mode='levels', levels=levels)

    def _scorers(self, name: str, block: nn.Module) -> dict:
        run = self.run
        scorers = {}
        for block_input in ('fp', 'quantized'):
            run.config = run.config.replace(block_input=block_input)
            scorers[block_input] = run.make_scorer(name, block)
        return scorers

    def _draws(self, layouts: Dict[str, GenomeLayout]):
        """(step, {block: genome}) per candidate, the observer first."""
        observers = {name: layout.read() for name, layout in layouts.items()}
        yield 0.0, observers
        for step in self.step_levels:
            operators = {name: self._operators(layout, step)
                         for name, layout in layouts.items()}
            for _ in range(self.candidates_per_step):
                yield step, {name: operators[name].perturb_scales(genome)
                             for name, genome in observers.items()}

    def sample_block(self, name: str, block: nn.Module) -> None:
        """Candidates of one block, the others at the observer solution."""
        layout = self.run.layouts[name]
        observer = layout.read()
        scorers = self._scorers(name, block)
        start = time.perf_counter()
        for step, genomes in self._draws({name: layout}):
            genome = genomes[name]
            terms = {key: scorer.terms(genome, with_output=True)
                     for key, scorer in scorers.items()}
            layout.write(genome)
            self.records.append(self._record(name, step, terms))
        layout.write(observer)
        self.logger.info(f'fitness diagnostic: block {name} done in '
                         f'{time.perf_counter() - start:.0f} s')

    @torch.no_grad()
    def sample_whole_model(self) -> None:
        """Candidates perturbing every block at once.

        Block terms are summed over the blocks: with the FP input each
        block runs on its cached FP input; with the quantized input they
        come from one forward of the candidate model (its own inputs). The
        output term is the KL of that forward's logits in both.
        """
        run = self.run
        layouts = {name: run.layouts[name] for name, _ in run.blocks}
        observers = {name: layout.read() for name, layout in layouts.items()}
        fp_scorers = {}
        for name, block in run.blocks:
            run.config = run.config.replace(block_input='fp')
            fp_scorers[name] = run.make_scorer(name, block)
        blocks = run.blocks
        start = time.perf_counter()
        for step, genomes in self._draws(layouts):
            fp_terms = [fp_scorers[name].terms(genomes[name],
                                               with_output=False)
                        for name, _ in blocks]
            for name, _ in blocks:
                layouts[name].write(genomes[name])
            records, output = record_block_io(run._forward_quantized, blocks)
            quantized_terms = []
            for name, _ in blocks:
                grid = run.adapter.block_output_grid(
                    name, records[name].output, records[name].args,
                    records[name].kwargs)
                scorer = fp_scorers[name]
                terms = dict(info_nce=float(scorer.contrastive(grid)))
                terms.update(token_terms(grid, scorer.fp_grid))
                quantized_terms.append(terms)
            output_kl = output_divergence(output,
                                          fp_scorers[blocks[0][0]]
                                          .fp_model_output)
            summed = {}
            for key, per_block in (('fp', fp_terms),
                                   ('quantized', quantized_terms)):
                summed[key] = {term: sum(t[term] for t in per_block)
                               for term in ('info_nce', 'mse', 'cosine')}
                summed[key]['output_kl'] = output_kl
            self.records.append(self._record('whole model', step, summed))
        for name, layout in layouts.items():
            layout.write(observers[name])
        self.logger.info('fitness diagnostic: whole model done in '
                         f'{time.perf_counter() - start:.0f} s')

    def sample_all(self) -> List[CandidateRecord]:
        """Every block, then the whole model; returns the records."""
        for name, block in self.run.blocks:
            self.sample_block(name, block)
        self.sample_whole_model()
        return self.records
