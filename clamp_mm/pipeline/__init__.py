"""clamp_mm.pipeline: the CLAMP pipeline as a runner-free API.

The layer between the method (``clamp_mm.search``, ``clamp_mm.synth``,
``clamp_mm.models``, ``clamp_mm.quant``) and its users (the mmengine test
loop in ``clamp_mm.engine``, the benchmark, the tools): one call,
:func:`quantize_model`, synthesizes, calibrates, searches and reports;
:class:`QuantLoopConfig` is the one typed config of a run. Needs mmengine
(registries, ``mmengine.dist``) but never a Runner.
"""
from .adapter_quantize import quantize
from .building import build_in_scope
from .cost import cost_report, float_cost_report, swapped_cost_report
from .loop_config import QuantLoopConfig
from .clamp_pipeline import (SEARCH_DIR, SYNTHETIC_IMAGES_FILE,
                             build_calibrator, quantize_model)
from .quantized_checkpoint import (load_quantized, read_quantized,
                                   save_quantized)
from .result import QuantizationResult
from .stage_meter import StageMeter
from .synthesis import synthesize

__all__ = [
    'build_calibrator', 'build_in_scope', 'cost_report', 'float_cost_report',
    'load_quantized',
    'QuantizationResult', 'QuantLoopConfig', 'quantize', 'quantize_model',
    'read_quantized', 'save_quantized', 'SEARCH_DIR', 'StageMeter',
    'swapped_cost_report', 'SYNTHETIC_IMAGES_FILE', 'synthesize'
]
