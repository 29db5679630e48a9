"""clamp_mm.report: every run explains itself.

From a finished work dir (and, while the run is alive, the quantized model
and its calibration images) it measures and writes:

- :mod:`.sensitivity`: per-layer sensitivity, one layer quantized at a time
  by toggling the calibrated quantizers;
- :mod:`.patch_density`: patch-similarity densities of image sets;
- :mod:`.collect`: both, plus the bits of every quantizer, as plain data;
- :mod:`.tracking`: stage-1 losses, search fitness and final metrics
  through mmengine's ``Visualizer`` (TensorBoard and other backends);
- :mod:`.run_report`: the one call that ends a run (data, tracking,
  report), for the loop's hook and runner-free callers;
- :mod:`.figures`, :mod:`.markdown`, :mod:`.writer`: the report
  (``WORK_DIR/report.md`` with ``WORK_DIR/report/*.png``) and the
  comparison of two runs, redrawn from the work dir's files alone.
"""
from .collect import analyse_quantized_model, plain_loss_log, quantizer_bits
from .markdown import SECTION_TITLES, render_comparison, render_report
from .patch_density import gaussian_noise_like, patch_similarity_histograms
from .run_files import (REPORT_DIR, REPORT_FILE, RESULTS_FILE, RUN_DATA_FILE,
                        NotAFinishedRunError, RunFiles, load_run,
                        save_run_data)
from .run_report import report_quantization, write_run_report
from .sensitivity import ALL_LAYERS, layer_sensitivity, quantizers_by_layer
from .tracking import (final_scalars, log_final_metrics, log_search_fitness,
                       log_stage1_losses)
from .writer import draw_figures, write_comparison, write_report

__all__ = [
    'ALL_LAYERS', 'analyse_quantized_model', 'draw_figures',
    'final_scalars', 'gaussian_noise_like', 'layer_sensitivity',
    'load_run', 'log_final_metrics', 'log_search_fitness',
    'log_stage1_losses', 'NotAFinishedRunError', 'patch_similarity_histograms',
    'plain_loss_log', 'quantizer_bits', 'quantizers_by_layer',
    'render_comparison', 'render_report', 'report_quantization',
    'REPORT_DIR', 'REPORT_FILE',
    'RESULTS_FILE', 'RUN_DATA_FILE', 'RunFiles', 'save_run_data',
    'SECTION_TITLES', 'write_comparison', 'write_report',
    'write_run_report'
]
