"""clamp_mm.engine: the layer that knows the mmengine Runner.

Importing it registers ``clamp_mm.QuantTestLoop`` in ``LOOPS`` and the hooks
``clamp_mm.SyntheticImageVisualizationHook``,
``clamp_mm.TokenAgreementHook`` and ``clamp_mm.RunReportHook`` in ``HOOKS``.
"""
from .checkpoint_check import (CheckpointMismatchError,
                               check_checkpoint_fits, checkpoint_state_dict)
from .hooks import SyntheticImageVisualizationHook, TokenAgreementHook
from .quant_test_loop import (QUANTIZED_MODEL_FILE, SYNTHETIC_IMAGES_FILE,
                              QuantTestLoop)
from .report_hook import RunReportHook
from .quantized_checkpoint import (load_quantized, read_quantized,
                                   save_quantized)
from .results_table import (FP_PREFIX, RESULTS_FILE, combine_metrics,
                            side_by_side_table)

__all__ = [
    'CheckpointMismatchError', 'FP_PREFIX', 'QUANTIZED_MODEL_FILE',
    'QuantTestLoop', 'RESULTS_FILE', 'RunReportHook', 'SYNTHETIC_IMAGES_FILE',
    'SyntheticImageVisualizationHook', 'TokenAgreementHook',
    'check_checkpoint_fits', 'checkpoint_state_dict', 'combine_metrics',
    'load_quantized', 'read_quantized', 'save_quantized',
    'side_by_side_table'
]
