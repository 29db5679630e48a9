"""The report's figures, drawn from a work dir's plain data.

matplotlib is imported when a figure is drawn, not when this module is
imported: without it the report is still written, with a line saying the
figures need it (``pip install matplotlib``).
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch

#: Pictures shown in the synthetic image grid at most.
MAX_GRID_IMAGES = 16
#: Quant points in the rows of the bit map, in display order.
BIT_MAP_POINTS = ('weight', 'input', 'q', 'k', 'v', 'score', 'softmax',
                  'attn_output', 'post_gelu', 'block_output')


class FiguresUnavailable(ImportError):
    """matplotlib is not installed: the report is written without figures."""


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend.

    Raises:
        FiguresUnavailable: When matplotlib is not installed.
    """
    try:
        import matplotlib
    except ImportError:
        raise FiguresUnavailable(
            'matplotlib is not installed, so the report has no figures: '
            "pip install matplotlib (or pip install -e '.[bench]')") from None
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    return plt


def _save(figure, path: str) -> str:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    import matplotlib.pyplot as plt
    plt.close(figure)
    return path


def display_pixels(images: torch.Tensor,
                   mean_std: Optional[Sequence[Sequence[float]]] = None
                   ) -> torch.Tensor:
    """Normalised (N, 3, H, W) images as (N, H, W, 3) values in [0, 1].

    Args:
        images (Tensor): Normalised images.
        mean_std (Sequence, optional): Per-channel mean and std on the
            0-255 scale. Defaults to None: each image is min-max scaled.

    Returns:
        Tensor: Displayable pixels.
    """
    images = images.detach().float().cpu()
    if mean_std is None:
        low = images.amin(dim=(1, 2, 3), keepdim=True)
        high = images.amax(dim=(1, 2, 3), keepdim=True)
        pixels = (images - low) / (high - low).clamp_min(1e-12)
    else:
        mean = torch.tensor(mean_std[0]).view(1, -1, 1, 1)
        std = torch.tensor(mean_std[1]).view(1, -1, 1, 1)
        pixels = ((images * std + mean) / 255.0).clamp(0, 1)
    return pixels.permute(0, 2, 3, 1)


def plot_image_grid(images: torch.Tensor, path: str,
                    mean_std: Optional[Sequence] = None,
                    columns: int = 8) -> str:
    """The synthetic calibration images, ``columns`` per row."""
    plt = pyplot()
    shown = display_pixels(images[:MAX_GRID_IMAGES], mean_std)
    columns = min(columns, len(shown))
    rows = -(-len(shown) // columns)
    figure, axes = plt.subplots(rows, columns,
                                figsize=(1.2 * columns, 1.2 * rows + 0.4),
                                squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis('off')
        if index < len(shown):
            axis.imshow(shown[index].numpy())
    figure.suptitle(f'{len(images)} synthetic calibration images'
                    + (f' (first {len(shown)})'
                       if len(shown) < len(images) else ''), fontsize=9)
    return _save(figure, path)


def plot_stage1_losses(loss_log: List[dict], path: str) -> str:
    """Each generator loss term per optimisation step (all batches)."""
    plt = pyplot()
    terms = [key for key in loss_log[0]
             if key not in ('batch', 'round', 'iteration', 'lr', 'seconds')]
    figure, axis = plt.subplots(figsize=(7, 3.6))
    steps = range(len(loss_log))
    for term in terms:
        axis.plot(steps, [entry[term] for entry in loss_log], label=term,
                  linewidth=1.6 if term == 'total' else 0.9)
    starts = [step for step, entry in enumerate(loss_log)
              if step and entry['iteration'] == 0]
    for step in starts:
        axis.axvline(step, color='grey', linewidth=0.5, linestyle=':')
    axis.set_xlabel('step (batches and rounds one after the other; '
                    'dotted: a new batch or round)', fontsize=8)
    axis.set_ylabel('weighted loss term')
    axis.set_title('Stage 1: generator losses', fontsize=9)
    axis.legend(fontsize=7)
    return _save(figure, path)


def plot_patch_similarity(data: dict, path: str) -> str:
    """Per MHSA layer, the patch-similarity density of each image set."""
    plt = pyplot()
    edges = torch.tensor(data['bin_edges'])
    centres = ((edges[1:] + edges[:-1]) / 2).numpy()
    layers = data['layers']
    columns = min(4, len(layers))
    rows = -(-len(layers) // columns)
    figure, axes = plt.subplots(rows, columns,
                                figsize=(3.0 * columns, 2.4 * rows),
                                squeeze=False)
    for index, layer in enumerate(layers):
        axis = axes[index // columns][index % columns]
        for name, per_layer in data['densities'].items():
            axis.plot(centres, per_layer[index], label=name,
                      linewidth=1.8 if name == 'synthetic' else 1.0)
        # Log scale: a collapsed set (all patches alike) spikes by orders of
        # magnitude and would flatten every other curve.
        axis.set_yscale('log')
        axis.set_ylim(1e-3, None)
        axis.set_title(layer, fontsize=7)
        axis.set_xlabel('cosine similarity of patch pairs', fontsize=7)
        axis.tick_params(labelsize=6)
    axes[0][0].legend(fontsize=6)
    for index in range(len(layers), rows * columns):
        axes[index // columns][index % columns].axis('off')
    return _save(figure, path)


def plot_search_fitness(search: dict, path: str) -> str:
    """Best and mean fitness of each block over its cycles (the search's
    own figure, drawn from its summary)."""
    pyplot()
    from clamp_mm.search.plots import plot_fitness
    from clamp_mm.search.result import SearchResult
    fields = {key: search.get(key) for key in SearchResult.__dataclass_fields__
              if key != 'images'}
    return plot_fitness(SearchResult(images=None, **fields), path)


def bit_map_matrix(bits: Dict[str, dict]):
    """Layers, quant points and the (point x layer) bits (0: none).

    Args:
        bits (dict[str, dict]): Quantizer name to ``bits`` and ``point``
            (``run_data['bits']``); quantizers not in ``'quantize'`` mode
            are left out.

    Returns:
        tuple[list[str], list[str], list[list[int]]]: Layer names, point
        names, and per point one row of bits per layer.
    """
    layers: List[str] = []
    cells = {}
    for name, entry in bits.items():
        if entry.get('mode', 'quantize') != 'quantize':
            continue
        layer = name.rpartition('.')[0] or '(root)'
        if layer not in layers:
            layers.append(layer)
        cells[(entry['point'], layer)] = entry['bits']
    points = [p for p in BIT_MAP_POINTS if any(k[0] == p for k in cells)]
    points += sorted({k[0] for k in cells} - set(points))
    matrix = [[cells.get((point, layer), 0) for layer in layers]
              for point in points]
    return layers, points, matrix


def plot_bit_map(bits: Dict[str, dict], path: str) -> str:
    """Bits of every quantizer: quant points down, layers across."""
    plt = pyplot()
    layers, points, matrix = bit_map_matrix(bits)
    values = torch.tensor(matrix, dtype=torch.float32)
    masked = values.masked_fill(values == 0, float('nan')).numpy()
    levels = sorted({int(v) for v in values.flatten().tolist() if v > 0})
    levels = levels or [8]
    figure, axis = plt.subplots(
        figsize=(max(6.0, 0.16 * len(layers) + 2), 0.35 * len(points) + 2))
    # One colour per bit-width in use, ticks on the widths themselves.
    colours = plt.get_cmap('viridis', max(2, levels[-1] - levels[0] + 1))
    image = axis.imshow(masked, aspect='auto', cmap=colours,
                        vmin=levels[0] - 0.5,
                        vmax=max(levels[-1], levels[0] + 1) + 0.5)
    axis.set_yticks(range(len(points)))
    axis.set_yticklabels(points, fontsize=7)
    axis.set_xticks(range(len(layers)))
    axis.set_xticklabels(layers, rotation=90, fontsize=5)
    figure.colorbar(image, ax=axis, label='bits', ticks=levels)
    axis.set_title('Bits per quantizer (blank: no quantizer there)',
                   fontsize=9)
    return _save(figure, path)


def plot_sensitivity(rows: List[dict], path: str) -> str:
    """Output error per layer when only that layer is quantized."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 0.16 * len(rows) + 1.4))
    names = [row['layer'] for row in rows]
    errors = [row['output_error'] for row in rows]
    colours = ['tab:red' if (row['top1_drop'] or 0) > 0 else 'tab:blue'
               for row in rows]
    axis.barh(range(len(rows)), errors, color=colours)
    axis.set_yticks(range(len(rows)))
    axis.set_yticklabels(names, fontsize=5)
    axis.invert_yaxis()
    axis.set_xlabel('relative output error vs FP (red: top-1 changes on '
                    'some synthetic image)', fontsize=7)
    axis.set_title('Per-layer sensitivity: only that layer quantized',
                   fontsize=9)
    return _save(figure, path)


def figure_path(report_dir: str, name: str) -> str:
    """Where figure ``name`` goes in the report folder."""
    return osp.join(report_dir, f'{name}.png')
