"""The evolutionary calibrator: stage 2 of CLAMP-ViT (method.md sections 3-4).

Block by block (last block first by default) it searches the quantization
parameters of that block (per-channel weight scales, per-tensor activation
scales and, with mixed precision, bit-widths) with a steady-state
evolutionary algorithm scored by a local contrastive fitness, refreshing the
synthetic images now and then against the current quantized model.

Example:
    >>> calibrator = CALIBRATORS.build(
    ...     dict(type='clamp_mm.EvolutionaryCalibrator', passes=2))
    >>> result = calibrator.calibrate(model, images, refresh_fn=generator,
    ...                               recipe=QuantRecipe(weight_bits=4))
"""
from typing import Callable, Optional

import torch
from torch import nn

from clamp_mm.models.base import find_adapter
from clamp_mm.models.image_check import check_calibration_images
from clamp_mm.models.observer_calibration import calibrate_observers
from clamp_mm.registry import CALIBRATORS
from .config import SearchConfig
from .result import SearchResult
from .search_run import SearchRun, as_refresh_fn


def initialise_from_observers(model: nn.Module, images: torch.Tensor,
                              recipe) -> nn.Module:
    """Quantize ``model`` and calibrate its observers on ``images``.

    This is the search's starting point: the observers' (min-max by
    default) scales on the synthetic data.

    Args:
        model (nn.Module): A float model (changed in place).
        images (Tensor): Normalised synthetic images (B, 3, H, W).
        recipe (QuantRecipe | dict): What to quantize and how.

    Returns:
        nn.Module: The quantized, calibrated model.
    """
    return calibrate_observers(model, recipe, images)


@CALIBRATORS.register_module()
class EvolutionaryCalibrator:
    """Layer-wise evolutionary search of quantization parameters.

    Every field of :class:`SearchConfig` is a keyword argument, so a config
    ``dict(type='clamp_mm.EvolutionaryCalibrator', passes=4)`` builds one.
    The search never looks at labelled data: candidates are ranked by the
    local fitness on synthetic images only.

    Args:
        config (SearchConfig, optional): A ready config; keyword arguments
            override its fields. Defaults to None.
        **fields: Fields of :class:`SearchConfig`.
    """

    def __init__(self, config: Optional[SearchConfig] = None,
                 **fields) -> None:
        if config is None:
            config = SearchConfig(**fields)
        elif fields:
            config = config.replace(**fields)
        self.config = config

    def calibrate(self,
                  model: nn.Module,
                  images: torch.Tensor,
                  refresh_fn: Optional[Callable] = None,
                  recipe=None) -> SearchResult:
        """Search the quantization parameters of ``model``, in place.

        Args:
            model (nn.Module): A quantized and calibrated model, or a float
                model together with ``recipe``.
            images (Tensor): Normalised synthetic images (B, 3, H, W).
            refresh_fn (generator | Callable, optional): For cyclic
                adaptation: a clamp_mm generator (its ``refresh`` is used)
                or ``fn(images, fp_model, quantized_model, iterations)``
                returning updated images. Defaults to None (no refresh).
            recipe (QuantRecipe | dict, optional): When given, ``model`` is
                first quantized and calibrated on ``images`` with it.
                Defaults to None.

        Returns:
            SearchResult: Per-block fitness, per-quantizer bits, size,
            BOPs, timings. The model holds the best parameters found.
        """
        check_calibration_images(images, find_adapter(model))
        if recipe is not None:
            model = initialise_from_observers(model, images, recipe)
        run = SearchRun(self.config, model, images, as_refresh_fn(refresh_fn))
        result = run.execute()
        if self.config.work_dir is not None:
            result.dump(self.config.work_dir)
            if self.config.plots and result.history:
                # matplotlib only when a figure is drawn: importing the
                # search stays free of it.
                from .plots import write_plots
                write_plots(result, self.config.work_dir)
        return result
