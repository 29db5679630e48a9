"""Cyclic adaptation: the population is re-scored on refreshed images, and
each refresh records what it did to the FP-quantized disagreement."""
import pytest
import torch

from clamp_mm.models import find_adapter
from clamp_mm.quant import iter_quantizers
from clamp_mm.search import SearchConfig
from clamp_mm.search.search_run import SearchRun
from clamp_mm.synth.losses import output_disagreement
from search_models import quantized_tiny


class NoisyRefresh:
    """Refresh stand-in: fixed-seed noise, and the disagreement it saw."""

    def __init__(self):
        self.random = torch.Generator().manual_seed(7)
        self.seen = []

    @staticmethod
    def _disagreement(images, fp_model, quantized_model):
        with torch.no_grad():
            return float(output_disagreement(
                find_adapter(fp_model).forward_images(images),
                find_adapter(quantized_model).forward_images(images), True))

    def __call__(self, images, fp_model, quantized_model, iterations):
        refreshed = images + 0.3 * torch.randn(images.shape,
                                               generator=self.random)
        self.seen.append(
            (self._disagreement(images, fp_model, quantized_model),
             self._disagreement(refreshed, fp_model, quantized_model)))
        return refreshed


class CheckingRun(SearchRun):
    """After every block visit, score the block's population afresh on the
    current images and keep both lists of fitness values."""

    checks = None

    def visit(self, visit_index):
        super().visit(visit_index)
        name, block = self.blocks[visit_index % len(self.blocks)]
        population = self.populations[name]
        stored = list(population.fitness)
        scorer = self.make_scorer(name, block)
        fresh = [scorer(genome) for genome in population.genomes]
        # The fresh scoring wrote the last genome: put the best back.
        self.layouts[name].write(population.best)
        self.checks.append((visit_index, stored, fresh))


@pytest.mark.parametrize('fitness', ['info_nce', 'mse'])
def test_population_fitness_is_that_of_the_current_images(fitness):
    _, model, images = quantized_tiny('timm_vit')
    config = SearchConfig.fast(passes=2, cycles=4, children_per_cycle=2,
                               output_mae_weight=0.0, fitness=fitness)
    run = CheckingRun(config, model, images, NoisyRefresh())
    run.checks = []
    result = run.execute()
    assert sum(entry['refreshed'] for entry in result.history) >= 4
    assert not torch.equal(run.images, images)
    assert len(run.checks) == 4
    for visit_index, stored, fresh in run.checks:
        assert stored == pytest.approx(fresh, rel=1e-6, abs=1e-9), visit_index


def test_refresh_records_disagreement_before_and_after():
    _, model, images = quantized_tiny('timm_vit')
    refresh = NoisyRefresh()
    run = SearchRun(SearchConfig.fast(cycles=4), model, images, refresh)
    result = run.execute()
    refreshed = [e for e in result.history if e['refreshed']]
    assert len(refreshed) == len(refresh.seen) == 3
    for entry, (before, after) in zip(refreshed, refresh.seen):
        # The quantized model the refresh saw is the one the search holds.
        assert entry['disagreement_before'] == pytest.approx(before, rel=1e-5)
        assert entry['disagreement_after'] == pytest.approx(after, rel=1e-5)
        assert entry['disagreement_after'] != entry['disagreement_before']
    assert all('disagreement_before' not in e for e in result.history
               if not e['refreshed'])
    # The measurement leaves the searched model quantized.
    assert {q.mode for _, q in iter_quantizers(model)} == {'quantize'}


@pytest.mark.parametrize('which', ['weights', 'activations'])
def test_searched_quantizers_leave_the_others_at_the_observer_solution(
        which):
    from clamp_mm.search.genome import is_weight_quantizer
    _, model, images = quantized_tiny('timm_vit')
    before = {name: q.scale.clone() for name, q in iter_quantizers(model)}
    config = SearchConfig.fast(searched_quantizers=which, passes=1,
                               cycles=2)
    SearchRun(config, model, images).execute()
    changed = {name: not torch.equal(before[name], q.scale)
               for name, q in iter_quantizers(model)
               if q.is_calibrated}
    wanted = {name: is_weight_quantizer(name, q) == (which == 'weights')
              for name, q in iter_quantizers(model) if q.is_calibrated}
    assert not any(changed[n] for n in changed if not wanted[n])
    assert any(changed[n] for n in changed if wanted[n])
    with pytest.raises(ValueError, match='searched_quantizers must be one'):
        SearchConfig(searched_quantizers='bias')
