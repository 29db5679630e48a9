"""One call that ends a run: save its report data, track it, write the report.

Used by the quantization loop's :class:`clamp_mm.engine.RunReportHook` and
meant for any runner-free caller that has written ``quant_results.json``
into a work dir::

    analysis = analyse_quantized_model(adapter, images)
    write_run_report(work_dir, analysis, loss_log=generator.loss_log,
                     search=result.summary(), stage_seconds=times)
"""
from typing import Iterable, Mapping, Optional

from .collect import plain_loss_log
from .run_files import load_run, save_run_data
from .tracking import log_final_metrics, log_search_fitness, log_stage1_losses
from .writer import write_report


def write_run_report(work_dir: str,
                     analysis: Optional[dict] = None,
                     loss_log: Optional[Iterable[Mapping]] = None,
                     search: Optional[dict] = None,
                     stage_seconds: Optional[Mapping[str, float]] = None,
                     label: Optional[str] = None,
                     visualizer=None,
                     tracked: Iterable[str] = ('stage1', 'search',
                                               'final'),
                     **extra) -> str:
    """Write ``report/run_data.json`` and ``report.md`` for a finished run.

    Args:
        work_dir (str): The run's work dir; ``quant_results.json`` must be
            there already.
        analysis (dict, optional): What :func:`analyse_quantized_model`
            measured. Defaults to None (no bits, densities, sensitivity).
        loss_log (Iterable[Mapping], optional): The generator's loss log.
            Defaults to None.
        search (dict, optional): ``SearchResult.summary()``. Defaults to
            None.
        stage_seconds (Mapping[str, float], optional): Seconds per stage,
            in order. Defaults to None.
        label (str, optional): Name of the quantized model (``'W4/A8'``).
            Defaults to None (derived from the recipe).
        visualizer (mmengine.visualization.Visualizer, optional): Receives
            the scalars named by ``tracked``. Defaults to None.
        tracked (Iterable[str]): Which scalars go to ``visualizer``:
            ``'stage1'`` losses, ``'search'`` fitness, ``'final'`` metrics
            (a caller that sent some during the run leaves them out).
            Defaults to all three.
        **extra: More JSON-able entries for ``run_data.json``.

    Returns:
        str: The report's path.

    Raises:
        NotAFinishedRunError: When ``work_dir`` holds no finished results.
    """
    run_data = dict(analysis or {})
    run_data.update(label=label, stage_seconds=dict(stage_seconds or {}),
                    loss_log=plain_loss_log(loss_log), search=search,
                    **extra)
    load_run(work_dir)  # refuse an unfinished work dir before writing
    save_run_data(work_dir, run_data)
    run = load_run(work_dir)
    tracked = set(tracked)
    if visualizer is not None:
        if 'stage1' in tracked and run_data['loss_log']:
            log_stage1_losses(visualizer, run_data['loss_log'])
        if 'search' in tracked and search:
            log_search_fitness(visualizer, search.get('history') or [])
        if 'final' in tracked:
            log_final_metrics(visualizer, run.results['quantized'],
                              run.results.get('fp'),
                              run.results.get('cost'))
    return write_report(work_dir, run)
