"""The files of a finished run's work dir, read back for the report.

A run (``tools/quantize.py``, the quantization loop) writes into its work
dir ``quant_results.json`` (metrics, cost, recipe, search summary),
``synthetic_images.pth`` and ``search/search_result.json``; the report hook
adds ``report/run_data.json`` (stage times, stage-1 losses, per-quantizer
bits, patch-similarity densities, per-layer sensitivity). Nothing here
needs the model: a report is redrawn from these files alone.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Optional

import torch

from clamp_mm.synth.dataset import SyntheticImageDataset

#: Results file the quantization loop writes (engine.RESULTS_FILE).
RESULTS_FILE = 'quant_results.json'
#: Synthetic images the loop saves (engine.SYNTHETIC_IMAGES_FILE).
SYNTHETIC_IMAGES_FILE = 'synthetic_images.pth'
#: The search's summary, under the loop's search dir.
SEARCH_RESULT_FILE = osp.join('search', 'search_result.json')
#: Folder of the report's figures and data, inside the work dir.
REPORT_DIR = 'report'
#: What the report hook measured, inside :data:`REPORT_DIR`.
RUN_DATA_FILE = osp.join(REPORT_DIR, 'run_data.json')
#: The report itself, at the top of the work dir.
REPORT_FILE = 'report.md'


class NotAFinishedRunError(ValueError):
    """The folder is not the work dir of a finished run (message: one
    line naming the folder and what is missing)."""


@dataclass
class RunFiles:
    """What a finished work dir holds, as plain data.

    Args:
        work_dir (str): The folder.
        results (dict): ``quant_results.json``: ``quantized``, ``fp``
            (None without ``--fp``), ``recipe``, ``cost``, ``search``...
        run_data (dict): ``report/run_data.json``; empty for a run made
            without the report hook.
        search (dict, optional): ``search/search_result.json``, or None
            when the run had no search.
        images (Tensor, optional): The synthetic images (normalised), or
            None when the run did not save them.
    """
    work_dir: str
    results: dict
    run_data: dict = field(default_factory=dict)
    search: Optional[dict] = None
    images: Optional[torch.Tensor] = None

    @property
    def name(self) -> str:
        """The work dir's folder name."""
        return osp.basename(osp.normpath(self.work_dir))

    @property
    def label(self) -> str:
        """Name of the quantized model (``'W4/A8'``...)."""
        if self.run_data.get('label'):
            return self.run_data['label']
        recipe = self.results.get('recipe') or {}
        if 'weight_bits' in recipe and 'act_bits' in recipe:
            return f'W{recipe["weight_bits"]}/A{recipe["act_bits"]}'
        return 'quantized'


def _read_json(path: str, work_dir: str) -> dict:
    try:
        with open(path) as file:
            return json.load(file)
    except (OSError, ValueError) as error:
        raise NotAFinishedRunError(
            f'{work_dir}: cannot read {osp.relpath(path, work_dir)} '
            f'({" ".join(str(error).split())})') from None


def load_run(work_dir: str) -> RunFiles:
    """Read a finished run's files.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        RunFiles: Its results and, where present, report data, search
        summary and synthetic images.

    Raises:
        NotAFinishedRunError: When ``work_dir`` is not a folder, holds no
            readable ``quant_results.json``, or its results hold no
            quantized metrics (a run that did not end).
    """
    if not osp.isdir(work_dir):
        raise NotAFinishedRunError(f'{work_dir} is not a folder')
    results_path = osp.join(work_dir, RESULTS_FILE)
    if not osp.isfile(results_path):
        raise NotAFinishedRunError(
            f'{work_dir} is not a finished clamp_mm run: it has no '
            f'{RESULTS_FILE} (a run writes it when it ends)')
    results = _read_json(results_path, work_dir)
    if not isinstance(results, dict) or not isinstance(
            results.get('quantized'), dict):
        raise NotAFinishedRunError(
            f'{work_dir} is not a finished clamp_mm run: {RESULTS_FILE} '
            'holds no quantized metrics')
    run_data = {}
    if osp.isfile(osp.join(work_dir, RUN_DATA_FILE)):
        run_data = _read_json(osp.join(work_dir, RUN_DATA_FILE), work_dir)
    search = None
    if osp.isfile(osp.join(work_dir, SEARCH_RESULT_FILE)):
        search = _read_json(osp.join(work_dir, SEARCH_RESULT_FILE), work_dir)
    elif run_data.get('search'):
        search = run_data['search']
    images = None
    images_path = osp.join(work_dir, SYNTHETIC_IMAGES_FILE)
    if osp.isfile(images_path):
        try:
            images = SyntheticImageDataset.load(images_path).images
        except (OSError, ValueError, RuntimeError):
            images = None  # the report says the grid is missing
    return RunFiles(work_dir, results, run_data, search, images)


def save_run_data(work_dir: str, run_data: dict) -> str:
    """Write ``run_data`` to ``work_dir/report/run_data.json``.

    Args:
        work_dir (str): The run's work dir.
        run_data (dict): JSON-able data (see :mod:`clamp_mm.report.collect`).

    Returns:
        str: The file written.
    """
    path = osp.join(work_dir, RUN_DATA_FILE)
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as file:
        json.dump(run_data, file, indent=1)
    return path
