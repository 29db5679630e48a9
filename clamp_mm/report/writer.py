"""Write a work dir's report (figures and Markdown) from its files alone."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import clamp_mm.report.figures as figure_module
from .markdown import render_comparison, render_report
from .run_files import REPORT_DIR, REPORT_FILE, RunFiles, load_run


def draw_figures(run: RunFiles) -> Tuple[Dict[str, Optional[str]],
                                         List[str]]:
    """Draw every figure the run's data allows into ``work_dir/report``.

    Args:
        run (RunFiles): The work dir's data.

    Returns:
        tuple[dict[str, str | None], list[str]]: Figure name to its path
        relative to the work dir (None when not drawn), and notes for the
        report (one line each: matplotlib missing, a figure that failed).
    """
    report_dir = osp.join(run.work_dir, REPORT_DIR)
    data = run.run_data
    jobs = []
    if run.images is not None:
        jobs.append(('synthetic_images', figure_module.plot_image_grid,
                     (run.images, ), dict(mean_std=data.get('mean_std'))))
    if data.get('loss_log'):
        jobs.append(('stage1_losses', figure_module.plot_stage1_losses,
                     (data['loss_log'], ), {}))
    if data.get('patch_similarity'):
        jobs.append(('patch_similarity', figure_module.plot_patch_similarity,
                     (data['patch_similarity'], ), {}))
    if run.search and run.search.get('history'):
        jobs.append(('search_fitness', figure_module.plot_search_fitness,
                     (run.search, ), {}))
    if data.get('bits'):
        jobs.append(('bit_map', figure_module.plot_bit_map,
                     (data['bits'], ), {}))
    if data.get('sensitivity'):
        jobs.append(('sensitivity', figure_module.plot_sensitivity,
                     (data['sensitivity'], ), {}))
    drawn: Dict[str, Optional[str]] = {name: None for name, *_ in jobs}
    notes: List[str] = []
    if not jobs:
        return drawn, notes
    try:
        figure_module.pyplot()
    except figure_module.FiguresUnavailable as error:
        return drawn, [str(error)]
    os.makedirs(report_dir, exist_ok=True)
    for name, plot, args, kwargs in jobs:
        path = figure_module.figure_path(report_dir, name)
        try:
            plot(*args, path, **kwargs)
        except (ValueError, KeyError, IndexError, TypeError) as error:
            notes.append(f'figure {name} not drawn: '
                         f'{" ".join(str(error).split())}')
            continue
        drawn[name] = osp.relpath(path, run.work_dir)
    return drawn, notes


def write_report(work_dir: str, run: Optional[RunFiles] = None) -> str:
    """(Re)write ``work_dir/report.md`` and its figures.

    Args:
        work_dir (str): A finished run's work dir.
        run (RunFiles, optional): Its files, already read. Defaults to
            None (read here).

    Returns:
        str: The report's path.

    Raises:
        NotAFinishedRunError: When ``work_dir`` is not a finished run;
            nothing is written then.
    """
    run = run or load_run(work_dir)
    figures, notes = draw_figures(run)
    path = osp.join(work_dir, REPORT_FILE)
    text = render_report(run, figures, notes)
    with open(path, 'w') as file:
        file.write(text)
    return path


def write_comparison(work_dirs: Sequence[str], out_file: str) -> str:
    """Compare finished runs side by side in one Markdown file.

    Each run's figures are (re)drawn in its own work dir and linked
    relative to ``out_file``.

    Args:
        work_dirs (Sequence[str]): Two or more finished work dirs.
        out_file (str): The comparison's Markdown file.

    Returns:
        str: ``out_file``.

    Raises:
        NotAFinishedRunError: When a folder is not a finished run; nothing
            is written then.
    """
    runs = [load_run(work_dir) for work_dir in work_dirs]
    out_dir = osp.dirname(osp.abspath(out_file))
    figures = []
    for run in runs:
        drawn, _ = draw_figures(run)
        figures.append({
            name: (osp.relpath(osp.join(run.work_dir, path), out_dir)
                   if path else None)
            for name, path in drawn.items()
        })
    os.makedirs(out_dir, exist_ok=True)
    with open(out_file, 'w') as file:
        file.write(render_comparison(runs, figures))
    return out_file
