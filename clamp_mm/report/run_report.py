"""One call that ends a run: save its report data, track it, write the report.

Used by the quantization loop's :class:`clamp_mm.engine.RunReportHook` and
meant for any runner-free caller that has written ``quant_results.json``
into a work dir::

    analysis = analyse_quantized_model(adapter, images)
    write_run_report(work_dir, analysis, loss_log=generator.loss_log,
                     search=result.summary(), stage_seconds=times)
"""
import json
import os
import os.path as osp
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


def report_quantization(result, work_dir: str,
                        metrics: Optional[Mapping] = None,
                        fp_metrics: Optional[Mapping] = None,
                        visualizer=None, sensitivity: bool = True,
                        progress: bool = True) -> str:
    """The report of a runner-free :func:`clamp_mm.quantize_model` run.

    Writes ``quant_results.json`` (the metrics given, the recipe, the cost
    and the search record of ``result``), then the report data and
    ``report.md``, with the per-layer sensitivity measured on
    ``result.images``.

    Args:
        result (QuantizationResult): What ``quantize_model`` returned.
        work_dir (str): Where the report goes.
        metrics (Mapping, optional): The quantized model's metrics, if the
            caller evaluated it. Defaults to None (the table says none).
        fp_metrics (Mapping, optional): The FP model's. Defaults to None.
        visualizer (Visualizer, optional): Receives the scalars.
            Defaults to None.
        sensitivity (bool): Measure the per-layer sensitivity.
            Defaults to True.
        progress (bool): Progress bar of the sensitivity. Defaults to True.

    Returns:
        str: The report's path.
    """
    from .collect import analyse_quantized_model
    from .run_files import RESULTS_FILE
    os.makedirs(work_dir, exist_ok=True)
    content = dict(quantized=_plain(dict(metrics or {})),
                   fp=_plain(dict(fp_metrics)) if fp_metrics else None,
                   recipe=result.recipe.to_dict(), cost=_plain(result.cost),
                   search=_plain(result.search_record()))
    with open(osp.join(work_dir, RESULTS_FILE), 'w') as file:
        json.dump(content, file, indent=1)
    analysis = analyse_quantized_model(result.adapter, result.images,
                                       sensitivity=sensitivity,
                                       progress=progress)
    search = result.search.summary() if result.search is not None else None
    return write_run_report(work_dir, analysis,
                            loss_log=result.metadata.get('loss_log'),
                            search=search,
                            stage_seconds=result.stage_seconds,
                            label=result.label, visualizer=visualizer)


def _plain(value):
    """Numbers, strings, lists and dicts as JSON-able data."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value.item() if hasattr(value, 'item') else str(value)
