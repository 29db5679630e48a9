"""clamp_mm.benchmark: every calibration method side by side.

The pieces behind ``tools/benchmark.py``: the models and how they are scored
(:mod:`.tasks`), the methods and settings (:mod:`.methods`), the cells
(:mod:`.runner`), the wall-time and memory meter (:mod:`.measure`), the
seed statistics and targets (:mod:`.summary`), the figures (:mod:`.plots`)
and the report (:mod:`.report`).
"""
from .measure import StageMeter, current_rss_bytes
from .methods import (DEFAULT_SETTINGS, METHOD_SPECS, SETTINGS,
                      BenchmarkConfig, MethodSpec, parse_methods,
                      parse_settings)
from .summary import CellSummary, check_targets, summarise
from .tasks import MODEL_SPECS, ModelSpec, build_task, load_float_model

__all__ = [
    'BenchmarkConfig', 'build_task', 'CellSummary', 'check_targets',
    'current_rss_bytes', 'DEFAULT_SETTINGS', 'load_float_model',
    'METHOD_SPECS', 'MethodSpec', 'MODEL_SPECS', 'ModelSpec',
    'parse_methods', 'parse_settings', 'SETTINGS', 'StageMeter',
    'summarise'
]
