"""One run of the evolutionary search over a model's blocks.

:class:`SearchRun` holds everything one ``calibrate`` call needs (the
model, its FP twin, the caches, the populations) and walks the block visits:
``passes x blocks`` visits of ``cycles x children_per_cycle`` children each,
refreshing the synthetic images every ``refresh_every_cycles`` cycles and
writing its state after every visit so that a rerun continues.
"""
import copy
import sys
import time
from functools import partial
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.logging import MMLogger
from mmengine.utils import ProgressBar
from torch import nn

from clamp_mm.fileio import tensor_sha256
from clamp_mm.models.base import find_adapter
from clamp_mm.quant.tensor_quantizer import (TensorQuantizer,
                                             iter_quantizers, set_quant_mode)
from clamp_mm.synth.losses import output_disagreement
from .calibrated_quantizers import calibrated_quantizers
from .block_cache import record_block_input
from .checkpointing import (capture_rng_states, load_state,
                            restore_rng_states, save_state)
from .config import SearchConfig
from .fitness import BlockScorer, output_mae
from .fitness_terms import get_fitness
from .image_refresh import refresh_images
from .genome import (Genome, GenomeLayout, GenomeOperators,
                     is_weight_quantizer)
from .mixed_precision import BitBudget, fit_to_budget
from .population import Population
from .rest_of_network import RestOfNetwork
from .result import SearchResult
from .search_stats import RoundingLevelMonitor

#: ``refresh(images, fp_model, quantized_model, iterations) -> images``.
RefreshFn = Callable[[torch.Tensor, nn.Module, nn.Module, int], torch.Tensor]


def as_refresh_fn(refresher) -> Optional[RefreshFn]:
    """A generator (anything with ``refresh``) or a callable, as a callable."""
    if refresher is None or callable(getattr(refresher, 'refresh', None)):
        return None if refresher is None else refresher.refresh
    if callable(refresher):
        return refresher
    raise TypeError(f'refresh_fn must be a generator with a refresh method '
                    f'or a callable, got {type(refresher).__name__}')


class SearchRun:
    """The search on one model; see :class:`EvolutionaryCalibrator`.

    Args:
        config (SearchConfig): The search's settings.
        model (nn.Module): A quantized model whose quantizers were
            calibrated (the observer solution the search starts from).
        images (Tensor): The synthetic batch, normalised (B, 3, H, W).
        refresh_fn (RefreshFn, optional): Updates the images for cyclic
            adaptation. Defaults to None (no refresh).
    """

    def __init__(self, config: SearchConfig, model: nn.Module,
                 images: torch.Tensor,
                 refresh_fn: Optional[RefreshFn] = None) -> None:
        self.config = config
        self.model = model.eval()
        self.adapter = find_adapter(model)
        self.images = images.detach().clone()
        self.refresh_fn = refresh_fn
        self.logger = MMLogger.get_current_instance()
        self.generator = torch.Generator().manual_seed(config.seed)
        self.quantizers: Dict[str, TensorQuantizer] = calibrated_quantizers(
            model)
        # What the search starts from, besides its config: a saved state of
        # other images or other bit-widths (another recipe) is not resumed.
        self.start = dict(
            images_sha256=tensor_sha256(self.images),
            bits={name: q.bits for name, q in self.quantizers.items()})
        set_quant_mode(model, 'quantize')
        self.fp_model = set_quant_mode(copy.deepcopy(model), 'off')
        self.fp_adapter = find_adapter(self.fp_model)
        self.blocks, self.fp_blocks = self._searchable_blocks()
        self.budget = BitBudget.from_model(
            model, self.images[:1],
            lambda _, x: self.adapter.forward_images(x),
            config.mixed_precision.budgets()
            if config.mixed_precision else None)
        self.populations: Dict[str, Population] = {}
        self.layouts: Dict[str, GenomeLayout] = {}
        self.initial_fitness: Dict[str, float] = {}
        self.history: List[dict] = []
        self.counters = dict(scored=0, rejected=0)
        self.times = dict(scoring=0.0, block_forward=0.0, caching=0.0,
                          refresh=0.0)
        self.next_visit = 0
        self._last_parent: Optional[Genome] = None
        # (images, FP model output on them) of the last scorer.
        self._fp_output: Tuple[Optional[torch.Tensor], object] = (None, None)
        self.last_disagreement: Optional[float] = None

    # ---- set-up -----------------------------------------------------------------
    def _searchable_blocks(self) -> Tuple[List[Tuple[str, nn.Module]],
                                          Dict[str, nn.Module]]:
        names = {id(q): name for name, q in self.quantizers.items()}
        fp_blocks = dict(self.fp_adapter.blocks())
        searchable, self._block_quantizers = [], {}
        for name, block in self.adapter.blocks():
            quantizers = [(names[id(q)], q)
                          for _, q in iter_quantizers(block)
                          if q.is_calibrated and self._searched(
                              names[id(q)], q)]
            if quantizers:
                searchable.append((name, block))
                self._block_quantizers[name] = quantizers
            else:
                self.logger.warning(f'block {name} has no searched calibrated '
                                    'quantizer; the search skips it')
        if not searchable:
            raise ValueError('no block of the model holds a calibrated '
                             'quantizer: nothing to search')
        if self.config.block_order == 'last_first':
            searchable = searchable[::-1]
        return searchable, fp_blocks

    def _searched(self, name: str, quantizer: TensorQuantizer) -> bool:
        which = self.config.searched_quantizers
        if which == 'all':
            return True
        return is_weight_quantizer(name, quantizer) == (which == 'weights')

    def _bit_choices(self, name: str,
                     quantizer: TensorQuantizer) -> Tuple[int, ...]:
        mixed = self.config.mixed_precision
        if mixed is None:
            return ()
        return tuple(sorted(mixed.weight_bit_choices if is_weight_quantizer(
            name, quantizer) else mixed.activation_bit_choices))

    def _build_layouts(self) -> None:
        mixed = self.config.mixed_precision
        for name, _ in self.blocks:
            self.layouts[name] = GenomeLayout(
                self._block_quantizers[name],
                mixed.weight_bit_choices if mixed else (),
                mixed.activation_bit_choices if mixed else ())

    def _operators(self, layout: GenomeLayout) -> GenomeOperators:
        config = self.config
        mixed = config.mixed_precision
        return GenomeOperators(
            layout, self.generator, config.low_bits, config.high_bits,
            config.mutation_range_low_bits, config.mutation_range_high_bits,
            mixed.bit_mutation_prob if mixed else 0.0, config.mutation_mode,
            config.mutation_levels)

    def fingerprint(self) -> dict:
        """What a saved state must match to be resumed."""
        return dict(config=self.config.fingerprint(),
                    blocks=[name for name, _ in self.blocks],
                    quantizers=sorted(self.quantizers),
                    images_shape=list(self.images.shape), start=self.start)

    def _fresh_start(self) -> None:
        if self.config.mixed_precision is not None:
            # Layers outside the blocks (patch embedding, head) are never
            # searched, but the start may lower them too to meet the budget.
            choices = {
                name: self._bit_choices(name, q)
                for name, q in self.quantizers.items() if q.is_calibrated
            }
            fit_to_budget(self.budget, self.quantizers, choices)
        self._build_layouts()

    def _restore(self, state: dict) -> None:
        for name, saved in state['quantizers'].items():
            quantizer = self.quantizers[name]
            quantizer.bits = int(saved['bits'])
            quantizer.scale.copy_(saved['scale'])
            quantizer.zero_point.copy_(saved['zero_point'])
        self._build_layouts()
        self.images = state['images'].to(self.images.device)
        self.populations = {}
        for name, saved in state['populations'].items():
            population = Population.from_state(saved)
            device = self.layouts[name].quantizers[0].scale.device
            for genome in population.genomes:
                genome.scale = genome.scale.to(device)
                genome.zero_point = genome.zero_point.to(device)
            self.populations[name] = population
        self.initial_fitness = dict(state['initial_fitness'])
        self.history = list(state['history'])
        self.counters = dict(state['counters'])
        self.next_visit = int(state['next_visit'])
        restore_rng_states(state['rng'], self.generator)
        self.logger.info(f'search resumed at block visit {self.next_visit} '
                         f'from {self.config.work_dir}')

    def _save(self) -> None:
        if self.config.work_dir is None:
            return
        save_state(
            self.config.work_dir,
            dict(fingerprint=self.fingerprint(),
                 next_visit=self.next_visit,
                 images=self.images.cpu(),
                 quantizers={
                     name: dict(scale=q.scale.cpu(),
                                zero_point=q.zero_point.cpu(), bits=q.bits)
                     for name, q in self.quantizers.items()
                 },
                 populations={
                     name: population.to_state()
                     for name, population in self.populations.items()
                 },
                 initial_fitness=self.initial_fitness,
                 history=self.history,
                 counters=self.counters,
                 rng=capture_rng_states(self.generator)))

    # ---- caches -----------------------------------------------------------------
    def _forward_quantized(self):
        return self.adapter.forward_images(self.images)

    @torch.no_grad()
    def make_scorer(self, name: str, block: nn.Module) -> BlockScorer:
        """The scorer of block ``name`` on the current images and model.

        Runs the FP model once (the block's FP input and output tokens, and
        the FP model output) and the quantized model once (the model-output
        MAE term, and the block's own input when ``block_input`` is
        ``'quantized'``). Only this block's tensors are kept, so memory does
        not grow with depth even at detector resolutions.
        """
        start = time.perf_counter()
        fp_inputs, fp_output = record_block_input(
            partial(self.fp_adapter.forward_images, self.images), name,
            self.fp_blocks[name])
        fp_grid = self.adapter.block_output_grid(name, fp_inputs.output,
                                                 fp_inputs.args,
                                                 fp_inputs.kwargs)
        if self.config.block_input == 'quantized':
            inputs, quantized_output = record_block_input(
                self._forward_quantized, name, block)
        else:
            inputs = fp_inputs
            quantized_output = self._forward_quantized()
        mae = float(output_mae(quantized_output, fp_output))
        # For the refresh statistics (no extra forward).
        self._fp_output = (self.images, fp_output)
        self.last_disagreement = float(output_disagreement(
            fp_output, quantized_output, self.adapter.has_head))
        config = self.config
        rest_of_network = None
        if get_fitness(config.fitness).needs_output:
            rest_of_network = RestOfNetwork(self._forward_quantized,
                                            self.adapter.blocks(), name)
        self.times['caching'] += time.perf_counter() - start
        return BlockScorer(block,
                           partial(self.adapter.block_output_grid, name),
                           self.layouts[name].write, inputs, fp_grid, mae,
                           config.kernel_size, config.temperature,
                           config.output_mae_weight, self.times,
                           config.fitness, rest_of_network, fp_output)

    @torch.no_grad()
    def disagreement(self) -> float:
        """How much the current quantized model disagrees with the FP model
        on the current images: what the adaptive term of a refresh raises
        (KL of the logits for classifiers, 1 - cosine of the features
        otherwise; see :func:`clamp_mm.synth.losses.output_disagreement`).
        The FP output of the images is reused from the last scorer when
        the images did not change since.
        """
        images, fp_output = self._fp_output
        if images is not self.images:
            fp_output = self.fp_adapter.forward_images(self.images)
        return float(output_disagreement(fp_output, self._forward_quantized(),
                                         self.adapter.has_head))

    def _refresh_images(self) -> Dict[str, float]:
        """Refresh the images against the current quantized model.

        Returns:
            dict[str, float]: ``disagreement_before``: the FP-quantized
            disagreement on the images before the refresh (the refresh aims
            at raising it: images the quantized model still gets wrong;
            ``disagreement_after`` is measured by the next scorer, which
            runs both models on the new images anyway).
        """
        start = time.perf_counter()
        before = self.disagreement()
        self.images = refresh_images(self.refresh_fn, self.images,
                                     self.fp_model, self.model,
                                     self.config.refresh_iterations)
        self.times['refresh'] += time.perf_counter() - start
        return dict(disagreement_before=before)

    # ---- the search -------------------------------------------------------------
    def _score_all(self, scorer: BlockScorer,
                   genomes: List[Genome]) -> List[float]:
        start = time.perf_counter()
        fitness = [scorer(genome) for genome in genomes]
        self.counters['scored'] += len(genomes)
        self.times['scoring'] += time.perf_counter() - start
        return fitness

    def _population(self, name: str, scorer: BlockScorer,
                    operators: GenomeOperators) -> Population:
        population = self.populations.get(name)
        if population is not None:
            population.rescore(self._score_all(scorer, population.genomes))
            return population
        observer = self.layouts[name].read()
        genomes = [observer] + [
            operators.perturb_scales(observer, self.config.init_noise_range)
            for _ in range(self.config.population_size - 1)
        ]
        population = Population(genomes, self._score_all(scorer, genomes))
        self.initial_fitness[name] = population.fitness[0]
        self.populations[name] = population
        return population

    def _within_budget(self, layout: GenomeLayout, child: Genome) -> bool:
        if not (self.config.mixed_precision and layout.searches_bits):
            return True
        bits = {name: q.bits for name, q in self.quantizers.items()}
        bits.update(layout.bits_by_name(child))
        return self.budget.within(bits)

    def _make_child(self, population: Population,
                    operators: GenomeOperators) -> Genome:
        config = self.config
        parent = population.tournament(config.tournament_size, self.generator)
        if config.crossover_prob > 0:
            draw = float(torch.rand(1, generator=self.generator))
            if draw < config.crossover_prob:
                other = population.tournament(config.tournament_size,
                                              self.generator)
                parent = operators.crossover(parent, other)
        # Kept for the rounding-level statistics of the cycle.
        self._last_parent = parent
        return operators.mutate_bits(operators.perturb_scales(parent))

    def _refresh_due(self, global_cycle: int) -> bool:
        config = self.config
        return (config.cyclic_adaptation and self.refresh_fn is not None
                and global_cycle > 0
                and global_cycle % config.refresh_every_cycles == 0)

    def visit(self, visit_index: int) -> None:
        """Search one block once: ``cycles`` cycles of children."""
        config = self.config
        name, block = self.blocks[visit_index % len(self.blocks)]
        pass_index = visit_index // len(self.blocks)
        layout = self.layouts[name]
        operators = self._operators(layout)
        bar = (ProgressBar(config.cycles * config.children_per_cycle,
                           file=sys.stdout) if config.progress_bar else None)
        population = self.populations.get(name)
        monitor = RoundingLevelMonitor(layout, block)
        before_visit = layout.read()
        for cycle in range(config.cycles):
            refresh = self._refresh_due(visit_index * config.cycles + cycle)
            refresh_stats = {}
            if refresh:
                if population is not None:
                    layout.write(population.best)
                refresh_stats = self._refresh_images()
            if cycle == 0 or refresh:
                # Every member is re-scored on the current images (after a
                # refresh, and at a block's next visit after other blocks
                # changed the images or the model).
                scorer = self.make_scorer(name, block)
                population = self._population(name, scorer, operators)
                if refresh:
                    refresh_stats['disagreement_after'] = \
                        self.last_disagreement
            rejected = accepted = 0
            level_changes = []
            for _ in range(config.children_per_cycle):
                child = self._make_child(population, operators)
                if not self._within_budget(layout, child):
                    rejected += 1
                else:
                    level_changes.append(
                        monitor.changed_share(self._last_parent, child))
                    fitness = self._score_all(scorer, [child])[0]
                    accepted += population.insert_and_drop_worst(
                        child, fitness)
                if bar is not None:
                    bar.update()
            self.counters['rejected'] += rejected
            entry = dict(visit=visit_index, pass_index=pass_index,
                         block=name, cycle=cycle,
                         best=population.best_fitness,
                         mean=population.mean_fitness, rejected=rejected,
                         refreshed=refresh,
                         level_change_share=(sum(level_changes) /
                                             max(1, len(level_changes))),
                         accepted_rate=accepted / max(1, len(level_changes)),
                         **refresh_stats)
            self.history.append(entry)
            self.logger.info(
                f'search pass {pass_index + 1}/{config.passes} block {name} '
                f'cycle {cycle + 1}/{config.cycles}: best '
                f'{entry["best"]:.6f} mean {entry["mean"]:.6f} '
                f'rejected {rejected} accepted '
                f'{entry["accepted_rate"]:.0%} weights re-rounded '
                f'{entry["level_change_share"]:.2%}' + (
                    ' (images refreshed: FP/quantized disagreement '
                    f'{refresh_stats["disagreement_before"]:.4f} -> '
                    f'{refresh_stats["disagreement_after"]:.4f})'
                    if refresh else ''))
        if bar is not None:
            sys.stdout.write('\n')
        if config.output_guard:
            self._guard_visit(layout, before_visit, population.best)
        else:
            layout.write(population.best)

    def _guard_visit(self, layout: GenomeLayout, before_visit: Genome,
                     best: Genome) -> None:
        """Write ``best`` unless it raises the model-output disagreement
        on the current images above ``before_visit``'s (see
        ``SearchConfig.output_guard``); record the outcome in the history.
        """
        layout.write(before_visit)
        before = self.disagreement()
        layout.write(best)
        after = self.disagreement()
        kept = after <= before
        if not kept:
            layout.write(before_visit)
        self.counters['visits_undone'] = (
            self.counters.get('visits_undone', 0) + int(not kept))
        self.history[-1].update(guard_before=before, guard_after=after,
                                visit_kept=kept)
        self.logger.info(
            f'output guard: FP/quantized disagreement {before:.4f} -> '
            f'{after:.4f}: visit ' + ('kept' if kept else 'undone'))

    def execute(self) -> SearchResult:
        """Run (or continue) the search; return its result."""
        start = time.perf_counter()
        config = self.config
        state = (load_state(config.work_dir, self.fingerprint())
                 if config.resume else None)
        if state is None:
            self._fresh_start()
        else:
            self._restore(state)
        total_visits = config.passes * len(self.blocks)
        while self.next_visit < total_visits:
            self.visit(self.next_visit)
            self.next_visit += 1
            self._save()
            if (config.stop_after_visits is not None
                    and self.next_visit >= config.stop_after_visits):
                break
        self.times['total'] = time.perf_counter() - start
        return SearchResult.from_run(self, total_visits)
