"""clamp_mm.search: stage 2 of CLAMP, the evolutionary calibrator.

Importing it registers ``clamp_mm.EvolutionaryCalibrator`` in
``clamp_mm.registry.CALIBRATORS``.
"""
from .config import SearchConfig
from .evolutionary import EvolutionaryCalibrator, initialise_from_observers
from .fitness import BlockScorer, local_fitness, neighbourhood_info_nce
from .genome import Genome, GenomeLayout, GenomeOperators
from .mixed_precision import BitBudget, MixedPrecisionConfig
from .population import Population
from .result import SearchResult

__all__ = [
    'BitBudget', 'BlockScorer', 'EvolutionaryCalibrator', 'Genome',
    'GenomeLayout', 'GenomeOperators', 'MixedPrecisionConfig', 'Population',
    'SearchConfig', 'SearchResult', 'initialise_from_observers',
    'local_fitness', 'neighbourhood_info_nce'
]
