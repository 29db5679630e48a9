"""Hooks on the quantization loop's own hook points.

:class:`clamp_mm.engine.QuantTestLoop` calls ``after_synthesis(runner,
images, adapter)`` and ``after_quantization(runner, model, adapter, images,
search_result)``; these hooks implement them, so they are switched on the
OpenMMLab way, in ``custom_hooks``::

    custom_hooks = [
        dict(type='clamp_mm.SyntheticImageVisualizationHook'),
        dict(type='clamp_mm.TokenAgreementHook'),
    ]
"""
import json
import os
import os.path as osp
from typing import List, Optional

import torch
from mmengine import dist
from mmengine.hooks import Hook

from clamp_mm.models.base import ModelAdapter
from clamp_mm.quant import set_quant_mode
from clamp_mm.registry import HOOKS
from clamp_mm.search.fitness import neighbourhood_info_nce
from clamp_mm.synth import TokenGridCollector
from clamp_mm.synth.diagnostics import denormalise


def images_for_display(images: torch.Tensor,
                       adapter: ModelAdapter) -> torch.Tensor:
    """Undo the adapter's normalisation: (N, H, W, 3) floats in [0, 1]."""
    return denormalise(images, *adapter.mean_std)


@HOOKS.register_module()
class SyntheticImageVisualizationHook(Hook):
    """Save a grid of the synthetic calibration images as a PNG.

    Args:
        max_images (int): Images shown at most. Defaults to 16.
        columns (int): Images per row. Defaults to 8.
        out_file (str): File name inside the runner's log dir.
            Defaults to ``'synthetic_images.png'``.
    """

    priority = 'LOW'

    def __init__(self,
                 max_images: int = 16,
                 columns: int = 8,
                 out_file: str = 'synthetic_images.png') -> None:
        if max_images < 1 or columns < 1:
            raise ValueError(f'max_images ({max_images}) and columns '
                             f'({columns}) must be >= 1')
        self.max_images = max_images
        self.columns = columns
        self.out_file = out_file
        #: Path of the last PNG written (None before).
        self.written: Optional[str] = None

    def after_synthesis(self, runner, images: torch.Tensor,
                        adapter: ModelAdapter) -> None:
        if not dist.is_main_process():
            return
        import matplotlib
        matplotlib.use('Agg')
        from matplotlib import pyplot as plt
        shown = images_for_display(images[:self.max_images], adapter)
        columns = min(self.columns, len(shown))
        rows = -(-len(shown) // columns)
        figure, axes = plt.subplots(
            rows, columns, figsize=(1.5 * columns, 1.5 * rows),
            squeeze=False)
        for index, axis in enumerate(axes.flat):
            axis.axis('off')
            if index < len(shown):
                axis.imshow(shown[index].numpy())
        figure.suptitle(f'{len(images)} synthetic calibration images')
        os.makedirs(runner.log_dir, exist_ok=True)
        self.written = osp.join(runner.log_dir, self.out_file)
        figure.savefig(self.written, dpi=100)
        plt.close(figure)
        runner.logger.info(f'synthetic images shown in {self.written}')


@HOOKS.register_module()
class TokenAgreementHook(Hook):
    """Per MHSA layer, how far the quantized patch tokens drift from FP.

    Runs the synthetic images through the model twice (quantizers off, then
    on) with the adapter's token taps, and reports per layer the mean
    cosine similarity of matching tokens and the neighbourhood InfoNCE the
    search's fitness uses (lower is better), as a log table and JSON.

    Args:
        max_images (int): Images used at most. Defaults to 8.
        kernel_size (int): InfoNCE neighbourhood side. Defaults to 3.
        temperature (float): InfoNCE temperature. Defaults to 0.2.
        out_file (str): JSON file name inside the runner's log dir.
            Defaults to ``'token_agreement.json'``.
    """

    priority = 'LOW'

    def __init__(self,
                 max_images: int = 8,
                 kernel_size: int = 3,
                 temperature: float = 0.2,
                 out_file: str = 'token_agreement.json') -> None:
        self.max_images = max_images
        self.kernel_size = kernel_size
        self.temperature = temperature
        self.out_file = out_file
        #: One dict per tapped layer after the last run.
        self.layers: List[dict] = []

    @torch.no_grad()
    def _grids(self, adapter: ModelAdapter, images: torch.Tensor):
        with TokenGridCollector(adapter) as collector:
            adapter.forward_images(images)
        return collector.records

    @torch.no_grad()
    def after_quantization(self, runner, model, adapter: ModelAdapter,
                           images: torch.Tensor, search_result=None) -> None:
        images = images[:self.max_images]
        set_quant_mode(adapter.model, 'off')
        try:
            fp_records = self._grids(adapter, images)
        finally:
            set_quant_mode(adapter.model, 'quantize')
        quantized_records = self._grids(adapter, images)
        self.layers = []
        for (name, fp_grid), (_, quantized_grid) in zip(
                fp_records, quantized_records):
            cosine = torch.nn.functional.cosine_similarity(
                fp_grid, quantized_grid, dim=-1).mean()
            info_nce = neighbourhood_info_nce(quantized_grid, fp_grid,
                                              self.kernel_size,
                                              self.temperature)
            self.layers.append(
                dict(layer=name, cosine=float(cosine),
                     info_nce=float(info_nce)))
        lines = [f'{entry["layer"]}: cosine {entry["cosine"]:.4f}, '
                 f'InfoNCE {entry["info_nce"]:.4f}' for entry in self.layers]
        runner.logger.info('FP/quantized patch-token agreement:\n' +
                           '\n'.join(lines))
        if dist.is_main_process():
            os.makedirs(runner.log_dir, exist_ok=True)
            with open(osp.join(runner.log_dir, self.out_file), 'w') as file:
                json.dump(self.layers, file, indent=1)
