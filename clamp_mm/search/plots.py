"""Plots of a search: fitness per block over the cycles, bits per layer."""
import os
import os.path as osp
from typing import List

import matplotlib

matplotlib.use('Agg')  # files only: the search runs headless
import matplotlib.pyplot as plt  # noqa: E402

from .result import SearchResult  # noqa: E402


def plot_fitness(result: SearchResult, path: str) -> str:
    """Best and mean fitness of each block over its cycles.

    Args:
        result (SearchResult): A search result.
        path (str): PNG file to write.

    Returns:
        str: ``path``.
    """
    blocks: List[str] = []
    for entry in result.history:
        if entry['block'] not in blocks:
            blocks.append(entry['block'])
    figure, axis = plt.subplots(figsize=(8, 4.5))
    colours = plt.cm.viridis([i / max(1, len(blocks) - 1)
                              for i in range(len(blocks))])
    for colour, block in zip(colours, blocks):
        entries = [e for e in result.history if e['block'] == block]
        steps = list(range(len(entries)))
        axis.plot(steps, [e['best'] for e in entries], color=colour,
                  label=block)
        axis.plot(steps, [e['mean'] for e in entries], color=colour,
                  linestyle=':', linewidth=0.8)
        refreshed = [step for step, e in zip(steps, entries)
                     if e.get('refreshed')]
        axis.scatter(refreshed, [entries[step]['best'] for step in refreshed],
                     color=colour, marker='x', zorder=3)
    axis.set_xlabel('cycle of the block (over all passes)')
    axis.set_ylabel('fitness (lower is better)')
    axis.set_title('Search fitness per block: best (solid), mean (dotted),\n'
                   'x: cycle run on refreshed images (new data, new scale)')
    axis.legend(fontsize='x-small', ncol=2)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_search_dynamics(result: SearchResult, path: str) -> str:
    """Per cycle: share of weights re-rounded by a child, accepted children.

    Args:
        result (SearchResult): A search result; cycles logged before these
            statistics existed are drawn as gaps.
        path (str): PNG file to write.

    Returns:
        str: ``path``.
    """
    history = result.history
    steps = list(range(len(history)))
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    top.plot(steps, [100 * e.get('level_change_share', float('nan'))
                     for e in history], color='tab:blue')
    top.set_ylabel('weights re-rounded\nper child (%)')
    top.set_title('Search dynamics per cycle (all blocks, in search order)'
                  '\n0 % re-rounded means a dead search')
    bottom.plot(steps, [100 * e.get('accepted_rate', float('nan'))
                        for e in history], color='tab:green')
    bottom.set_ylabel('children accepted (%)')
    bottom.set_xlabel('cycle of the search')
    for axis in (top, bottom):
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    for step, entry in zip(steps, history):
        if entry.get('cycle') == 0:
            bottom.axvline(step, color='grey', linewidth=0.4, alpha=0.5)
            top.axvline(step, color='grey', linewidth=0.4, alpha=0.5)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_bits(result: SearchResult, path: str) -> str:
    """Bit-width chosen for every quantizer.

    Args:
        result (SearchResult): A search result.
        path (str): PNG file to write.

    Returns:
        str: ``path``.
    """
    names = list(result.bits)
    values = [result.bits[name] for name in names]
    is_weight = [name.endswith('weight_quantizer') for name in names]
    figure, axis = plt.subplots(figsize=(max(6, 0.18 * len(names)), 4.5))
    axis.bar(range(len(names)), values,
             color=['tab:blue' if w else 'tab:orange' for w in is_weight])
    axis.set_xticks(range(len(names)))
    axis.set_xticklabels(names, rotation=90, fontsize=5)
    axis.set_ylabel('bits')
    metrics = result.metrics
    axis.set_title(f'Bits per quantizer (blue: weights, orange: activations)'
                   f'\nW{metrics["avg_weight_bits"]:.2f}/'
                   f'A{metrics["avg_activation_bits"]:.2f}, '
                   f'{metrics["size_mb"]:.3f} MB, '
                   f'{metrics["gbops"]:.3f} GBOPs')
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_plots(result: SearchResult, work_dir: str) -> List[str]:
    """Write the plots into ``work_dir``; return their paths."""
    os.makedirs(work_dir, exist_ok=True)
    return [
        plot_fitness(result, osp.join(work_dir, 'search_fitness.png')),
        plot_search_dynamics(result,
                             osp.join(work_dir, 'search_dynamics.png')),
        plot_bits(result, osp.join(work_dir, 'search_bits.png'))
    ]
