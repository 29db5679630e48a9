"""Figures of the benchmark report (matplotlib, Agg backend)."""
import os.path as osp
from typing import Dict, List, Sequence

import matplotlib
import numpy as np
import torch

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from clamp_mm.synth.diagnostics import denormalise  # noqa: E402
from .methods import METHOD_SPECS  # noqa: E402
from .summary import STAGES, points_per_unit  # noqa: E402


def _save(fig, path: str) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches='tight')
    plt.close(fig)
    return path


def plot_accuracy(cells, model: str, metric: str, methods: Sequence[str],
                  settings: Sequence[str], path: str) -> str:
    """Grouped bars: one group per setting, one bar per method, seed std
    as error bars."""
    fig, axis = plt.subplots(figsize=(3.6 + 1.9 * len(settings), 3.6))
    width = 0.8 / max(1, len(methods))
    for index, method in enumerate(methods):
        means, errors = [], []
        for setting in settings:
            cell = cells.get((model, method, setting))
            mean, std, _ = cell.metric(metric) if cell else (None, None, 0)
            means.append(np.nan if mean is None else mean)
            errors.append(0.0 if std is None else std)
        positions = np.arange(len(settings)) + (index - (len(methods) - 1) /
                                                2) * width
        axis.bar(positions, means, width, yerr=errors, capsize=2,
                 label=METHOD_SPECS[method].label)
    axis.set_xticks(np.arange(len(settings)))
    axis.set_xticklabels(settings)
    axis.set_ylabel(metric)
    finite = [cell.metric(metric)[0] for key, cell in cells.items()
              if key[0] == model and cell.metric(metric)[0] is not None]
    if finite:
        # Margins of 5 and 2 points, in the metric's own unit.
        point = 1.0 / points_per_unit(metric)
        low = max(0.0, min(finite) - 5 * point)
        axis.set_ylim(low, max(finite) + 2 * point)
    axis.set_title(f'{model}: {metric} per method and setting '
                   '(mean, error bar = std over seeds)', fontsize=9)
    axis.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path)


def plot_stage_times(cells, model: str, methods: Sequence[str],
                     settings: Sequence[str], path: str) -> str:
    """Stacked horizontal bars: seconds of each stage per method and
    setting (seed means)."""
    rows = [(method, setting) for setting in settings for method in methods
            if (model, method, setting) in cells]
    fig, axis = plt.subplots(figsize=(8, 0.28 * len(rows) + 1.2))
    left = np.zeros(len(rows))
    for stage in STAGES:
        seconds = np.array([
            cells[(model, method, setting)].stage_seconds(stage) or 0.0
            for method, setting in rows
        ])
        if not seconds.any():
            continue
        axis.barh(np.arange(len(rows)), seconds, left=left, label=stage)
        left += seconds
    axis.set_yticks(np.arange(len(rows)))
    axis.set_yticklabels(
        [f'{setting} {METHOD_SPECS[method].label}'
         for method, setting in rows], fontsize=7)
    axis.invert_yaxis()
    axis.set_xlabel('wall seconds (mean over seeds)')
    axis.set_title(f'{model}: time per stage', fontsize=9)
    axis.legend(fontsize=7)
    return _save(fig, path)


def to_pixels(images: torch.Tensor, mean: Sequence[float],
              std: Sequence[float]) -> np.ndarray:
    """Normalised (N, 3, H, W) images to (N, H, W, 3) values in [0, 1]."""
    return denormalise(images, mean, std).numpy()


def plot_image_grid(images: Dict[str, torch.Tensor], mean, std,
                    model: str, path: str) -> str:
    """One row per calibration source, its first images."""
    columns = max(len(batch) for batch in images.values())
    fig, axes = plt.subplots(len(images), columns,
                             figsize=(columns * 1.1, len(images) * 1.25),
                             squeeze=False)
    for row, (name, batch) in enumerate(images.items()):
        pixels = to_pixels(batch, mean, std)
        for column in range(columns):
            axis = axes[row][column]
            axis.axis('off')
            if column < len(pixels):
                axis.imshow(pixels[column])
        axes[row][0].set_title(name, loc='left', fontsize=8)
    fig.suptitle(f'{model}: calibration images (seed of the first run)',
                 fontsize=9)
    return _save(fig, path)


def plot_layer_bits(bits: Dict[str, int], title: str, path: str) -> str:
    """Bar per quantized layer: its weight bit-width."""
    names: List[str] = list(bits)
    fig, axis = plt.subplots(figsize=(max(5, 0.3 * len(names) + 1.5), 3.4))
    axis.bar(np.arange(len(names)), [bits[name] for name in names])
    axis.set_xticks(np.arange(len(names)))
    axis.set_xticklabels(names, rotation=90, fontsize=6)
    axis.set_ylabel('weight bits')
    axis.set_ylim(0, 8.5)
    axis.set_title(title, fontsize=9)
    return _save(fig, path)


def write_plots(cells, images_by_model: Dict[str, Dict[str, torch.Tensor]],
                normalisation: Dict[str, tuple], metrics: Dict[str, str],
                out_dir: str) -> Dict[str, List[str]]:
    """Every figure, per model; returns the paths written, by model."""
    written: Dict[str, List[str]] = {}
    models = list(dict.fromkeys(key[0] for key in cells))
    for model in models:
        methods = list(dict.fromkeys(key[1] for key in cells
                                     if key[0] == model))
        settings = list(dict.fromkeys(key[2] for key in cells
                                      if key[0] == model))
        paths = [
            plot_accuracy(cells, model, metrics[model], methods, settings,
                          osp.join(out_dir, f'{model}_accuracy.png')),
            plot_stage_times(cells, model, methods, settings,
                             osp.join(out_dir, f'{model}_stage_times.png'))
        ]
        if images_by_model.get(model):
            mean, std = normalisation[model]
            paths.append(plot_image_grid(
                images_by_model[model], mean, std, model,
                osp.join(out_dir, f'{model}_images.png')))
        mixed = [cells[key] for key in cells
                 if key[0] == model and key[1] == 'mixed']
        if mixed:
            cell = mixed[-1]
            record = cell.records[0]
            if record.get('weight_bits_per_layer'):
                paths.append(plot_layer_bits(
                    record['weight_bits_per_layer'],
                    f'{model}: mixed precision, per-layer weight bits '
                    f'(A{cell.setting.split("/A")[1]}, seed {record["seed"]},'
                    f' avg {record["avg_weight_bits"]:.2f})',
                    osp.join(out_dir, f'{model}_mixed_bits.png')))
        written[model] = paths
    return written
