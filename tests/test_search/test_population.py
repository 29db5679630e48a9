"""Steady-state population: tournament and elitist replacement."""
import torch

from clamp_mm.search.genome import Genome
from clamp_mm.search.population import Population


def _genome(value):
    return Genome(torch.tensor([float(value)]), torch.zeros(1),
                  torch.tensor([4]))


def test_tournament_returns_the_fittest_drawn():
    population = Population([_genome(i) for i in range(5)],
                            [5.0, 1.0, 3.0, 0.5, 2.0])
    generator = torch.Generator().manual_seed(0)
    # A tournament as large as the population, many times: the winner is
    # always the fittest member that was drawn, hence never the worst.
    winners = [float(population.tournament(50, generator).scale)
               for _ in range(20)]
    assert set(winners) == {3.0}


def test_insert_drops_the_worst_and_keeps_the_best():
    population = Population([_genome(i) for i in range(3)], [1.0, 2.0, 3.0])
    assert population.insert_and_drop_worst(_genome(9), 0.5)
    assert sorted(population.fitness) == [0.5, 1.0, 2.0]
    assert not population.insert_and_drop_worst(_genome(8), 7.0)
    assert sorted(population.fitness) == [0.5, 1.0, 2.0]
    assert population.best_fitness == 0.5
    restored = Population.from_state(population.to_state())
    assert restored.fitness == population.fitness
