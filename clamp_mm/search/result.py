"""What a search returns, and what it writes to its work dir."""
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List

import torch

from clamp_mm.fileio import atomic_write_text


@dataclass
class SearchResult:
    """Outcome of :meth:`EvolutionaryCalibrator.calibrate`.

    Args:
        finished (bool): False when the run stopped early
            (``stop_after_visits``); rerun to continue.
        visits_done (int): Block visits completed so far.
        total_visits (int): Block visits of the whole search.
        initial_fitness (dict[str, float]): Per block, the fitness of the
            observer solution when the block was first visited.
        best_fitness (dict[str, float]): Per block, the best fitness at its
            latest visit.
        history (list[dict]): One entry per cycle: visit, pass_index,
            block, cycle, best, mean, rejected, refreshed,
            level_change_share (mean share of the block's weights whose
            rounding level a child moved against its parent; 0 means a dead
            search) and accepted_rate (share of scored children that stayed
            in the population); a refreshed cycle also has
            disagreement_before / disagreement_after (FP-quantized output
            disagreement on the images before and after the refresh).
        bits (dict[str, int]): Bit-width of every quantizer.
        metrics (dict[str, float]): avg_weight_bits, avg_activation_bits,
            size_mb, gbops (per image).
        num_scored (int): Candidates scored (children and re-scored
            population members).
        num_rejected (int): Children rejected by the budget, unscored.
        times (dict[str, float]): Seconds: total, scoring (candidates:
            writing, block forward and fitness), block_forward (the block
            forwards alone), caching (full-model forwards), refresh (image
            updates). Times accumulate over resumed runs only within one
            run.
        images (Tensor): The synthetic images as the search left them.
    """
    finished: bool
    visits_done: int
    total_visits: int
    initial_fitness: Dict[str, float]
    best_fitness: Dict[str, float]
    history: List[dict]
    bits: Dict[str, int]
    metrics: Dict[str, float]
    num_scored: int
    num_rejected: int
    times: Dict[str, float]
    images: torch.Tensor = field(repr=False)

    @classmethod
    def from_run(cls, run, total_visits: int) -> 'SearchResult':
        """Collect the result of a :class:`SearchRun`."""
        bits = {name: q.bits for name, q in run.quantizers.items()}
        return cls(
            finished=run.next_visit >= total_visits,
            visits_done=run.next_visit,
            total_visits=total_visits,
            initial_fitness=dict(run.initial_fitness),
            best_fitness={
                name: population.best_fitness
                for name, population in run.populations.items()
            },
            history=list(run.history),
            bits=bits,
            metrics=run.budget.metrics(bits),
            num_scored=run.counters['scored'],
            num_rejected=run.counters['rejected'],
            times=dict(run.times),
            images=run.images)

    def summary(self) -> dict:
        """Everything but the images, as plain JSON-able data."""
        return dict(finished=self.finished, visits_done=self.visits_done,
                    total_visits=self.total_visits,
                    initial_fitness=self.initial_fitness,
                    best_fitness=self.best_fitness, bits=self.bits,
                    metrics=self.metrics, num_scored=self.num_scored,
                    num_rejected=self.num_rejected, times=self.times,
                    history=self.history)

    def dump(self, work_dir: str) -> str:
        """Write :meth:`summary` to ``work_dir/search_result.json``."""
        os.makedirs(work_dir, exist_ok=True)
        path = osp.join(work_dir, 'search_result.json')
        return atomic_write_text(json.dumps(self.summary(), indent=1), path)
