"""Experiment tracking: a run's scalars through mmengine's ``Visualizer``.

Whatever backends the config's ``visualizer`` lists receive them:
``LocalVisBackend`` (``<log_dir>/vis_data/scalars.json``, on by default),
``TensorboardVisBackend`` (event files; needs the ``tensorboard`` package,
``pip install -e .[tracking]``), ``WandbVisBackend`` ... Tags:

- ``stage1/<term>``: each generator loss term (and ``stage1/total``) per
  optimisation step, steps counted over all batches and rounds;
- ``search/best_fitness``, ``search/mean_fitness``: per search cycle, and
  ``search/best_fitness/<block>`` per block;
- ``final/<metric>`` (quantized), ``final/fp/<metric>``, ``final/cost/*``.
"""
from numbers import Number
from typing import Dict, Iterable, Mapping, Optional

#: Keys of a generator loss-log entry that are not loss terms.
LOSS_LOG_BOOKKEEPING = ('batch', 'round', 'iteration', 'lr', 'seconds')


def _is_scalar(value) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def log_stage1_losses(visualizer, loss_log: Iterable[Mapping]) -> int:
    """Send every step of a generator's ``loss_log`` to ``visualizer``.

    Args:
        visualizer (mmengine.visualization.Visualizer): Receives
            ``add_scalars``.
        loss_log (Iterable[Mapping]): The generator's ``loss_log`` (one
            dict per step: batch, round, iteration, lr, seconds and the
            loss terms).

    Returns:
        int: Steps sent.
    """
    steps = 0
    for step, entry in enumerate(loss_log):
        scalars = {
            f'stage1/{name}': float(value)
            for name, value in entry.items()
            if name not in LOSS_LOG_BOOKKEEPING and _is_scalar(value)
        }
        if 'lr' in entry:
            scalars['stage1/lr'] = float(entry['lr'])
        visualizer.add_scalars(scalars, step=step)
        steps += 1
    return steps


def log_search_fitness(visualizer, history: Iterable[Mapping]) -> int:
    """Send the search's per-cycle fitness to ``visualizer``.

    Args:
        visualizer (mmengine.visualization.Visualizer): Receives
            ``add_scalars``.
        history (Iterable[Mapping]): ``SearchResult.history``: one dict per
            cycle with ``block``, ``best`` and ``mean``.

    Returns:
        int: Cycles sent.
    """
    cycles = 0
    for step, entry in enumerate(history):
        visualizer.add_scalars(
            {
                'search/best_fitness': float(entry['best']),
                'search/mean_fitness': float(entry['mean']),
                f'search/best_fitness/{entry["block"]}': float(entry['best']),
            },
            step=step)
        cycles += 1
    return cycles


def final_scalars(quantized: Mapping, fp: Optional[Mapping] = None,
                  cost: Optional[Mapping] = None) -> Dict[str, float]:
    """The numeric final metrics under their ``final/...`` tags.

    Args:
        quantized (Mapping): Quantized model's metrics.
        fp (Mapping, optional): FP model's metrics. Defaults to None.
        cost (Mapping, optional): ``size_mb``, ``gbops`` ... of the
            results JSON. Defaults to None.

    Returns:
        dict[str, float]: Tag to value; non-numeric entries are left out.
    """
    scalars = {}
    for prefix, values in (('final/', quantized), ('final/fp/', fp),
                           ('final/cost/', cost)):
        for key, value in (values or {}).items():
            if _is_scalar(value):
                scalars[prefix + key] = float(value)
    return scalars


def log_final_metrics(visualizer, quantized: Mapping,
                      fp: Optional[Mapping] = None,
                      cost: Optional[Mapping] = None) -> Dict[str, float]:
    """Send the final metrics (see :func:`final_scalars`) at step 0.

    Args:
        visualizer (mmengine.visualization.Visualizer): Receives
            ``add_scalars``.
        quantized (Mapping): Quantized model's metrics.
        fp (Mapping, optional): FP model's metrics. Defaults to None.
        cost (Mapping, optional): Model size and BOPs. Defaults to None.

    Returns:
        dict[str, float]: What was sent.
    """
    scalars = final_scalars(quantized, fp, cost)
    if scalars:
        visualizer.add_scalars(scalars, step=0)
    return scalars
