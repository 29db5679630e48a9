"""The block-reconstruction calibrator (BRECQ / AdaRound / QDrop style).

After the observers, every block in forward order (for Swin: every block of
every stage) is tuned to reproduce the float block's output on the
calibration images (synthetic ones in the data-free pipeline), fed with
the quantized model's own block input: AdaRound's learned up/down rounding
of each weight (rectified sigmoid, regulariser annealed towards hard 0/1,
hard rounding at the end), LSQ-style learned steps of the weights and of
the uniform activation quantizers, and QDrop's random bypass of activation
quantization during the steps (``drop_prob``). Adam, a bounded number of
steps per block, progress bar, loss log and plot, state written after every
block so that a stopped run resumes to the same result.

Quantizers whose levels are not a step times integers keep the observers'
parameters: the log-sqrt(2) (and log2) softmax quantizers and the
twin-uniform softmax / post-GELU quantizers (QDrop still bypasses them at
random during the steps). The power-of-two-factor block-output quantizer
learns its base step, its per-channel factors stay. Layers outside the
blocks (patch embedding, patch merging, head) keep the observers'
solution.

Example:
    >>> calibrator = CALIBRATORS.build(
    ...     dict(type='clamp_mm.BlockReconstructionCalibrator',
    ...          iterations=500))
    >>> result = calibrator.calibrate(model, images)
"""
from typing import Callable, Optional

import torch
from torch import nn

from clamp_mm.models.base import find_adapter
from clamp_mm.models.image_check import check_calibration_images
from clamp_mm.models.observer_calibration import calibrate_observers
from clamp_mm.registry import CALIBRATORS
from clamp_mm.search.search_run import as_refresh_fn
from .config import ReconstructionConfig
from .reconstruction_run import ReconstructionRun
from .result import ReconstructionResult


@CALIBRATORS.register_module()
class BlockReconstructionCalibrator:
    """Block-wise reconstruction of the quantization parameters.

    Every field of :class:`ReconstructionConfig` is a keyword argument, so a
    config ``dict(type='clamp_mm.BlockReconstructionCalibrator',
    iterations=500)`` builds one; an unknown field is a one-line error.

    Args:
        config (ReconstructionConfig, optional): A ready config; keyword
            arguments override its fields. Defaults to None.
        **fields: Fields of :class:`ReconstructionConfig`.
    """

    def __init__(self, config: Optional[ReconstructionConfig] = None,
                 **fields) -> None:
        if config is None:
            config = ReconstructionConfig.from_fields(**fields)
        elif fields:
            ReconstructionConfig.from_fields(**fields)  # names checked
            config = config.replace(**fields)
        self.config = config

    def calibrate(self,
                  model: nn.Module,
                  images: torch.Tensor,
                  refresh_fn: Optional[Callable] = None,
                  recipe=None) -> ReconstructionResult:
        """Reconstruct ``model`` block by block, in place.

        Args:
            model (nn.Module): A quantized and calibrated model, or a float
                model together with ``recipe``.
            images (Tensor): Normalised calibration images (N, 3, H, W).
            refresh_fn (generator | Callable, optional): Refreshes the
                images every ``refresh_every_blocks`` blocks (a clamp_mm
                generator or ``fn(images, fp_model, quantized_model,
                iterations)``). Defaults to None.
            recipe (QuantRecipe | dict, optional): When given, ``model`` is
                first quantized and calibrated on ``images`` with it.
                Defaults to None.

        Returns:
            ReconstructionResult: Per-block losses, bits, metrics, times.
        """
        check_calibration_images(images, find_adapter(model))
        if recipe is not None:
            model = calibrate_observers(model, recipe, images)
        run = ReconstructionRun(self.config, model, images,
                                as_refresh_fn(refresh_fn))
        result = run.execute()
        if self.config.work_dir is not None:
            result.dump(self.config.work_dir)
            if self.config.plots and result.block_losses:
                from .plots import LOSS_PLOT_FILE, plot_losses
                import os.path as osp
                plot_losses(result, osp.join(self.config.work_dir,
                                             LOSS_PLOT_FILE))
        return result
