"""A block's population of candidates: tournament, insertion, elitism."""
from typing import Dict, List

import torch

from .genome import Genome


class Population:
    """Candidates and their fitness (lower is better).

    Replacement is steady-state: a child is inserted and the worst member
    dropped, so the best member can never be lost and the best fitness never
    rises on fixed data.

    Args:
        genomes (list[Genome]): The members.
        fitness (list[float]): Their fitness, same order.
    """

    def __init__(self, genomes: List[Genome], fitness: List[float]) -> None:
        if len(genomes) != len(fitness) or not genomes:
            raise ValueError(f'need as many fitness values as genomes (>= 1), '
                             f'got {len(genomes)} genomes and {len(fitness)} '
                             'fitness values')
        self.genomes = list(genomes)
        self.fitness = [float(f) for f in fitness]

    def __len__(self) -> int:
        return len(self.genomes)

    @property
    def best_index(self) -> int:
        """Index of the fittest member (the first one on ties)."""
        return min(range(len(self.fitness)), key=self.fitness.__getitem__)

    @property
    def best(self) -> Genome:
        """The fittest member."""
        return self.genomes[self.best_index]

    @property
    def best_fitness(self) -> float:
        """Fitness of the fittest member."""
        return self.fitness[self.best_index]

    @property
    def mean_fitness(self) -> float:
        """Mean fitness of the members."""
        return sum(self.fitness) / len(self.fitness)

    def tournament(self, size: int, generator: torch.Generator) -> Genome:
        """Draw ``size`` members with replacement; return the fittest."""
        drawn = torch.randint(len(self.genomes), (size, ),
                              generator=generator).tolist()
        winner = min(drawn, key=lambda index: (self.fitness[index], index))
        return self.genomes[winner]

    def insert_and_drop_worst(self, genome: Genome, fitness: float) -> bool:
        """Add a child, then remove the worst member.

        On ties the newest member goes, so a child no better than the worst
        leaves the population unchanged.

        Returns:
            bool: Whether the child stayed.
        """
        self.genomes.append(genome)
        self.fitness.append(float(fitness))
        worst = max(range(len(self.fitness)),
                    key=lambda index: (self.fitness[index], index))
        del self.genomes[worst]
        del self.fitness[worst]
        return worst != len(self.fitness)

    def rescore(self, fitness: List[float]) -> None:
        """Replace every member's fitness (after the data changed)."""
        if len(fitness) != len(self.genomes):
            raise ValueError(f'expected {len(self.genomes)} fitness values, '
                             f'got {len(fitness)}')
        self.fitness = [float(f) for f in fitness]

    def to_state(self) -> Dict[str, list]:
        """Plain tensors and floats, for the search state file."""
        return dict(genomes=[g.to_state() for g in self.genomes],
                    fitness=list(self.fitness))

    @classmethod
    def from_state(cls, state: Dict[str, list]) -> 'Population':
        """Inverse of :meth:`to_state`."""
        return cls([Genome.from_state(g) for g in state['genomes']],
                   state['fitness'])
