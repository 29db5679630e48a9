"""The loss plot of a block reconstruction."""
import os
import os.path as osp

import matplotlib

matplotlib.use('Agg')  # files only: the reconstruction runs headless
import matplotlib.pyplot as plt  # noqa: E402

from .result import ReconstructionResult  # noqa: E402

#: File of the loss plot in the work dir.
LOSS_PLOT_FILE = 'reconstruction_loss.png'


def plot_losses(result: ReconstructionResult, path: str) -> str:
    """Per block: the reconstruction loss over the steps (left) and the
    block loss of the observers' solution against the result (right).

    Args:
        result (ReconstructionResult): A reconstruction result.
        path (str): PNG file to write.

    Returns:
        str: ``path``.
    """
    figure, (curves, bars) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = list(result.block_losses)
    colours = plt.cm.viridis([i / max(1, len(names) - 1)
                              for i in range(len(names))])
    for colour, name in zip(colours, names):
        curve = result.curves.get(name) or []
        if curve:
            curves.plot([c[0] for c in curve], [c[1] for c in curve],
                        color=colour, label=name)
    curves.set_yscale('log')
    curves.set_xlabel('step')
    curves.set_ylabel('reconstruction loss (soft rounding, QDrop)')
    if names:
        curves.legend(fontsize=6)
    positions = range(len(names))
    bars.bar([p - 0.2 for p in positions],
             [result.block_losses[n]['initial'] for n in names], width=0.4,
             label='observers')
    bars.bar([p + 0.2 for p in positions],
             [result.block_losses[n]['final'] for n in names], width=0.4,
             label='reconstructed')
    bars.set_xticks(list(positions))
    bars.set_xticklabels(names, rotation=60, fontsize=6, ha='right')
    bars.set_yscale('log')
    bars.set_ylabel('block loss (hard rounding)')
    bars.legend(fontsize=8)
    figure.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
