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
