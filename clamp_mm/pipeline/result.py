"""What one CLAMP quantization run returns beside the quantized model."""
from dataclasses import dataclass, field
from typing import Dict, Optional

import torch
from torch import nn

from clamp_mm.models.base import ModelAdapter
from clamp_mm.quant import QuantRecipe


@dataclass
class QuantizationResult:
    """The record of :func:`clamp_mm.quantize_model`.

    Args:
        model (nn.Module): The quantized model (the one given, changed in
            place), in ``'quantize'`` mode.
        adapter (ModelAdapter): Its adapter.
        recipe (QuantRecipe): The recipe it was quantized with.
        images (Tensor): The calibration images the observers saw
            (normalised, N x 3 x H x W).
        metadata (dict): Provenance of the images (generator config, model
            identity, seeds, resolution); ``{}`` for images passed in.
        reused_images (bool): The images came from the cache file.
        search (clamp_mm.search.SearchResult, optional): The calibrator's
            result; None when the observers alone calibrated.
        cost (dict): :func:`clamp_mm.pipeline.cost_report` of the
            quantized model at the calibration images' resolution.
        stage_seconds (dict[str, float]): Wall seconds per stage
            (``synthesize``, ``calibrate``, ``search``).
        mixed_precision (bool): A mixed-precision search chose the
            bit-widths. Defaults to False.
    """
    model: nn.Module = field(repr=False)
    adapter: ModelAdapter = field(repr=False)
    recipe: QuantRecipe
    images: torch.Tensor = field(repr=False)
    metadata: dict = field(default_factory=dict, repr=False)
    reused_images: bool = False
    search: Optional[object] = field(default=None, repr=False)
    cost: dict = field(default_factory=dict)
    stage_seconds: Dict[str, float] = field(default_factory=dict)
    mixed_precision: bool = False

    @property
    def label(self) -> str:
        """Name of the quantized model in logs and tables: ``W4/A8``, or the
        average bits a mixed-precision search reached (``W4.3/A4.0``)."""
        if self.mixed_precision:
            metrics = self.search.metrics
            return (f'W{metrics["avg_weight_bits"]:.1f}/'
                    f'A{metrics["avg_activation_bits"]:.1f}')
        return f'W{self.recipe.weight_bits}/A{self.recipe.act_bits}'

    def search_record(self) -> Optional[dict]:
        """The search's summary for a results file: ``finished`` and
        ``metrics`` (with mixed precision also ``bits``); None without a
        search."""
        if self.search is None:
            return None
        record = dict(finished=self.search.finished,
                      metrics=self.search.metrics)
        if self.mixed_precision:
            record['bits'] = self.search.bits
        return record
