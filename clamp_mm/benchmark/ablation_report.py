"""Markdown tables of the quantizer ablation's results."""
from collections import defaultdict
from statistics import mean, pstdev
from typing import Dict, Iterable, List, Sequence


def _cell(values: List[float], fp: float) -> str:
    if not values:
        return ''
    average = mean(values)
    text = f'{average:.2f} ({average - fp:+.2f})'
    if len(values) > 1:
        text += f' ±{pstdev(values):.2f} n={len(values)}'
    return text


def ablation_tables(records: Iterable[dict],
                    protocols: Sequence[str] = ('linear', 'full')) -> str:
    """One table per (split, model, setting, source); rows are variants,
    columns protocols; a cell is the mean top-1 over seeds and its
    difference from FP (and the spread and seed count with several).

    Args:
        records (Iterable[dict]): Records of
            :func:`clamp_mm.benchmark.ablation.run_cells`.
        protocols (Sequence[str]): Column order.
            Defaults to ('linear', 'full').

    Returns:
        str: Markdown.
    """
    groups: Dict[tuple, Dict[str, Dict[str, List[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list)))
    fp_top1: Dict[tuple, float] = {}
    for record in records:
        group = (record['split'], record['model'], record['setting'],
                 record['source'])
        groups[group][record['variant']][record['protocol']].append(
            record['top1'])
        fp_top1[group] = record['fp_top1']
    lines = []
    for group in sorted(groups):
        split, model, setting, source = group
        fp = fp_top1[group]
        lines += [
            f'### {model}, {setting}, {source} images, {split} split '
            f'(FP {fp:.2f})', '',
            '| variant | ' + ' | '.join(f'{p} protocol' for p in protocols)
            + ' |', '|---|' + '---|' * len(protocols)
        ]
        for variant, by_protocol in groups[group].items():
            lines.append(f'| {variant} | ' + ' | '.join(
                _cell(by_protocol.get(p, []), fp) for p in protocols) + ' |')
        lines.append('')
    return '\n'.join(lines)


#: Issue 13's targets: the largest allowed loss (FP minus quantized top-1,
#: points) by (setting, protocol, calibration source); None: measured, no
#: target. W4/A8 and W8/A8 hold for either protocol and source.
TARGET_LOSSES = {
    ('W4/A4', 'linear', 'real'): 1.5,
    ('W4/A4', 'linear', 'clamp'): 2.0,
    ('W4/A4', 'full', 'real'): 3.0,
    ('W4/A4', 'full', 'clamp'): 3.5,
    ('W4/A8', None, None): 0.3,
    ('W8/A8', None, None): 0.3,
}


def target_loss(setting: str, protocol: str, source: str):
    """The largest allowed loss of a cell, or None when it has no target."""
    for key in ((setting, protocol, source), (setting, None, None)):
        if key in TARGET_LOSSES:
            return TARGET_LOSSES[key]
    return None


def target_table(records: Iterable[dict], variant: str,
                 split: str = 'test') -> str:
    """One row per (model, setting, protocol, source) of ``variant`` on
    ``split``: mean top-1 over the seeds, the loss, the spread, the seeds,
    the target and whether the mean loss meets it, with the margin
    (positive: room left; negative: missed by that much).

    Args:
        records (Iterable[dict]): Records of
            :func:`clamp_mm.benchmark.ablation.run_cells`.
        variant (str): The row scored, e.g. ``'preset clamp_full'``.
        split (str): Defaults to ``'test'``.

    Returns:
        str: Markdown.
    """
    cells: Dict[tuple, Dict[int, float]] = defaultdict(dict)
    fp_top1: Dict[str, float] = {}
    for record in records:
        if record['variant'] != variant or record['split'] != split:
            continue
        key = (record['model'], record['setting'], record['protocol'],
               record['source'])
        cells[key][record['seed']] = record['top1']
        fp_top1[record['model']] = record['fp_top1']
    lines = [
        '| model (FP) | setting | protocol | images | top-1 | loss | spread '
        '| seeds | target | met | margin |',
        '|---|---|---|---|---|---|---|---|---|---|---|'
    ]
    for key in sorted(cells):
        model, setting, protocol, source = key
        seeds = sorted(cells[key])
        values = [cells[key][seed] for seed in seeds]
        average, fp = mean(values), fp_top1[model]
        loss = fp - average
        target = target_loss(setting, protocol, source)
        spread = f'±{pstdev(values):.2f}' if len(values) > 1 else ''
        verdict = margin = ''
        if target is not None:
            verdict = 'met' if loss <= target else 'missed'
            margin = f'{target - loss:+.2f}'
        lines.append(
            f'| {model} ({fp:.2f}) | {setting} | {protocol} | {source} | '
            f'{average:.2f} | {loss:.2f} | {spread} | '
            f"{','.join(map(str, seeds))} | "
            f"{'' if target is None else target} | {verdict} | {margin} |")
    return '\n'.join(lines) + '\n'
