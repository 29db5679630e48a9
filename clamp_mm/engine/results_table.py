"""The FP-beside-quantized results table and its JSON record."""
import json
import os
import os.path as osp
from numbers import Number
from typing import Dict, Optional

from clamp_mm.fileio import atomic_write_text

#: Prefix of the FP metrics in the dict the loop returns.
FP_PREFIX = 'fp/'
#: File the loop writes its results to, in the work dir.
RESULTS_FILE = 'quant_results.json'


def _format(value) -> str:
    if isinstance(value, bool) or not isinstance(value, Number):
        return str(value)
    return f'{value:.4f}' if isinstance(value, float) else str(value)


def side_by_side_table(quantized: Dict[str, object],
                       fp: Optional[Dict[str, object]] = None,
                       quantized_label: str = 'quantized') -> str:
    """A plain-text table of each metric, FP beside quantized.

    Args:
        quantized (dict): Metrics of the quantized model, as the task's
            evaluator returned them (``'accuracy/top1'``, ``'coco/bbox_mAP'``,
            ``'mIoU'`` ...).
        fp (dict, optional): Metrics of the FP model, same keys.
            Defaults to None (one column only).
        quantized_label (str): Header of the quantized column, e.g.
            ``'CLAMP W4/A8'``. Defaults to ``'quantized'``.

    Returns:
        str: The table, lines joined by newlines (no trailing newline).
    """
    keys = list(quantized)
    if fp:
        keys += [key for key in fp if key not in quantized]
    header = ['metric'] + (['FP'] if fp else []) + [quantized_label]
    if fp:
        header.append('delta')
    rows = [header]
    for key in keys:
        row = [key]
        if fp:
            row.append(_format(fp.get(key, '-')))
        row.append(_format(quantized.get(key, '-')))
        if fp:
            both = (fp.get(key), quantized.get(key))
            numeric = all(
                isinstance(value, Number) and not isinstance(value, bool)
                for value in both)
            row.append(f'{both[1] - both[0]:+.4f}' if numeric else '-')
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        ' | '.join(cell.ljust(width) for cell, width in zip(row, widths))
        for row in rows
    ]
    lines.insert(1, '-+-'.join('-' * width for width in widths))
    return '\n'.join(lines)


def combine_metrics(quantized: Dict[str, object],
                    fp: Optional[Dict[str, object]] = None) -> dict:
    """One metrics dict: the quantized model's under the evaluator's keys,
    the FP model's under ``'fp/<key>'``."""
    combined = dict(quantized)
    for key, value in (fp or {}).items():
        combined[FP_PREFIX + key] = value
    return combined


def write_results(work_dir: str, quantized: Dict[str, object],
                  fp: Optional[Dict[str, object]] = None,
                  extra: Optional[dict] = None) -> str:
    """Write both metric sets (and extra plain data) to
    ``work_dir/quant_results.json``; returns the path."""
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, RESULTS_FILE)
    content = dict(quantized=_plain(quantized), fp=_plain(fp))
    content.update(_plain(extra or {}))
    return atomic_write_text(json.dumps(content, indent=1), path)


def _plain(value):
    """Metric values (numpy scalars included) as JSON-able data."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, 'item'):
        try:
            return value.item()
        except (ValueError, RuntimeError):
            return value.tolist()
    return str(value)
