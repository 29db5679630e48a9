"""The block-reconstruction benchmark report: the records of
``tools/reconstruction_ablation.py`` (one JSON line per model, source,
setting and seed) as mean ± std tables, issue 18's targets and a figure.

Example:
    >>> records = read_records(['vit_seed0.jsonl', 'vit_seed1.jsonl'])
    >>> lines = report_lines(records)
"""
import hashlib
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, Iterable, List, Tuple

from .summary import mean_std

#: Report order of the calibration sources, and their labels.
SOURCE_LABELS = OrderedDict(real='real images', clamp='CLAMP stage 1',
                            psaq_v1='PSAQ-ViT v1', gaussian='Gaussian noise')
#: Issue 18's margins to FP of CLAMP images + reconstruction, in points.
FP_MARGINS = {'W4/A4': 1.0, 'W3/A4': 3.0}
#: Issue 18's bound on the reconstruction time of the project ViT.
VIT_SECONDS = 600.0

Key = Tuple[str, str, str]  # model, setting, source


def quantizer_label(record: dict) -> str:
    """The record's ``--quantizer`` fields as a label; ``'default'`` when
    none were given (records older than the option have none)."""
    fields = record.get('quantizer') or {}
    return json.dumps(fields, sort_keys=True) if fields else 'default'


def recipe_label(record: dict) -> str:
    """What must agree between the records of one report: the
    ``--quantizer`` fields and the whole recorded recipe without its bits
    (a change of the default quantizer changes the recipe, not the fields),
    as a label; records older than the ``recipe`` field say so."""
    recipe = record.get('recipe')
    if recipe is None:
        return f'{quantizer_label(record)}, recipe not recorded'
    recipe = {key: value for key, value in recipe.items()
              if key not in ('weight_bits', 'act_bits')}
    digest = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode())
    return f'{quantizer_label(record)}, recipe {digest.hexdigest()[:10]}'


def read_records(paths: Iterable[str]) -> List[dict]:
    """Every record of the JSON-lines files; a (model, source, setting,
    seed, split) repeated in a later line or file is dropped (first kept).

    Raises:
        ValueError: When a line is not a JSON object of the tool, or when
            the records were made with different ``--quantizer`` fields
            or recipes (one report compares images under one quantizer).
    """
    seen, records, quantizers = set(), [], {}
    for path in paths:
        with open(path) as file:
            for number, line in enumerate(file, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    key = (record['model'], record['source'],
                           record['setting'], record['seed'],
                           record['split'])
                except (ValueError, KeyError, TypeError) as error:
                    raise ValueError(f'{path}:{number}: not a record of '
                                     f'reconstruction_ablation.py '
                                     f'({error})') from None
                quantizers.setdefault(recipe_label(record),
                                      f'{path}:{number}')
                if key not in seen:
                    seen.add(key)
                    records.append(record)
    if len(quantizers) > 1:
        raise ValueError('records of different quantizers (' + '; '.join(
            f'{label} first at {where}' for label, where in
            quantizers.items()) + '), expected one per report')
    return records


def group_cells(records: List[dict]) -> 'OrderedDict[Key, List[dict]]':
    """Records by (model, setting, source), in report order."""
    models = list(OrderedDict.fromkeys(r['model'] for r in records))
    settings = [s for s in ('W8/A8', 'W4/A8', 'W4/A4', 'W3/A4')
                if any(r['setting'] == s for r in records)]
    cells = OrderedDict()
    for model in models:
        for setting in settings:
            for source in SOURCE_LABELS:
                found = [r for r in records if (r['model'], r['setting'],
                                                r['source']) ==
                         (model, setting, source)]
                if found:
                    cells[(model, setting, source)] = sorted(
                        found, key=lambda r: r['seed'])
    return cells


def _fmt(mean, std, count) -> str:
    if mean is None:
        return '-'
    return (f'{mean:.2f}' if count < 2 else
            f'{mean:.2f} ± {std:.2f} (n={count})')


def _mean(cell: List[dict], field: str) -> float:
    return mean_std(r[field] for r in cell)[0]


def cell_table(cells) -> List[str]:
    """One row per (model, setting, source): observers, + reconstruction,
    gain, gap to FP and cost."""
    lines = ['| model | setting | images | FP | observers | + reconstruction '
             '| gain | below FP | reconstruction s (wall / CPU) | seeds |',
             '|---' * 10 + '|']
    for (model, setting, source), cell in cells.items():
        fp = _mean(cell, 'fp')
        recon = _mean(cell, 'reconstruction')
        gain = mean_std(r['reconstruction'] - r['observers'] for r in cell)
        lines.append(
            f'| {model} | {setting} | {SOURCE_LABELS[source]} | {fp:.2f} | '
            f'{_fmt(*mean_std(r["observers"] for r in cell))} | '
            f'{_fmt(*mean_std(r["reconstruction"] for r in cell))} | '
            f'{gain[0]:+.2f} | {fp - recon:.2f} | '
            f'{_mean(cell, "reconstruction_seconds"):.0f} / '
            f'{_mean(cell, "reconstruction_cpu_seconds"):.0f} | '
            f'{", ".join(str(r["seed"]) for r in cell)} |')
    return lines


def check_targets(cells) -> List[Tuple[str, str, str]]:
    """Issue 18's targets: (target, verdict, figures) per model."""
    checks = []
    models = list(OrderedDict.fromkeys(key[0] for key in cells))
    for model in models:
        for setting, margin in FP_MARGINS.items():
            cell = cells.get((model, setting, 'clamp'))
            target = (f'{model} {setting}: CLAMP + reconstruction within '
                      f'{margin:.1f} of FP')
            if cell is None:
                checks.append((target, 'not run', ''))
                continue
            gap = _mean(cell, 'fp') - _mean(cell, 'reconstruction')
            checks.append((target, 'met' if gap <= margin else
                           f'missed by {gap - margin:.2f}',
                           f'{gap:.2f} below FP (n={len(cell)})'))
        for setting in FP_MARGINS:
            clamp = cells.get((model, setting, 'clamp'))
            real = cells.get((model, setting, 'real'))
            target = (f'{model} {setting}: CLAMP images >= real images '
                      'under reconstruction')
            if clamp is None or real is None:
                checks.append((target, 'not run', ''))
                continue
            difference = (_mean(clamp, 'reconstruction')
                          - _mean(real, 'reconstruction'))
            checks.append((target, 'met' if difference >= 0 else
                           f'missed by {-difference:.2f}',
                           f'CLAMP {_mean(clamp, "reconstruction"):.2f} '
                           f'(n={len(clamp)}), real '
                           f'{_mean(real, "reconstruction"):.2f} '
                           f'(n={len(real)})'))
    vit = [r for key, cell in cells.items() if key[0] == 'vit'
           for r in cell]
    target = (f'vit: reconstruction <= {VIT_SECONDS / 60:.0f} min with '
              '1 thread')
    if not vit:
        checks.append((target, 'not run', ''))
    else:
        slowest = max(r['reconstruction_seconds'] for r in vit)
        threads = sorted({r['threads'] for r in vit})
        checks.append((target, 'met' if slowest <= VIT_SECONDS and
                       threads == [1] else 'missed',
                       f'slowest cell {slowest:.0f} s wall, threads '
                       f'{threads}'))
    return checks


def report_lines(records: List[dict]) -> List[str]:
    """The Markdown body: cell table and targets."""
    cells = group_cells(records)
    lines = ['## Top-1 (%) per model, setting and calibration images', '']
    lines += cell_table(cells)
    lines += ['', '## Targets of issue 18', '', '| target | verdict | '
              'figures |', '|---|---|---|']
    lines += [f'| {target} | **{verdict}** | {figures} |'
              for target, verdict, figures in check_targets(cells)]
    return lines


def plot_cells(records: List[dict], path: str) -> str:
    """Per model and setting, grouped bars: FP, and for each source the
    observers' top-1 and the reconstructed top-1 (mean over seeds, the
    seeds' spread as error bars)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    cells = group_cells(records)
    panels: Dict[Tuple[str, str], list] = OrderedDict()
    for (model, setting, source), cell in cells.items():
        panels.setdefault((model, setting), []).append((source, cell))
    columns = len(panels)
    figure, axes = plt.subplots(1, columns, figsize=(2.6 * columns, 3.6),
                                squeeze=False)
    for axis, ((model, setting), entries) in zip(axes[0], panels.items()):
        fp = _mean(entries[0][1], 'fp')
        positions = range(len(entries))
        for offset, field, label in ((-0.2, 'observers', 'observers'),
                                     (0.2, 'reconstruction',
                                      '+ reconstruction')):
            stats = [mean_std(r[field] for r in cell) for _, cell in entries]
            axis.bar([p + offset for p in positions],
                     [fp - s[0] for s in stats], width=0.4,
                     yerr=[s[1] or 0.0 for s in stats], label=label)
        axis.set_xticks(list(positions))
        axis.set_xticklabels([SOURCE_LABELS[s].split(' ')[0]
                              for s, _ in entries], rotation=30, fontsize=7)
        axis.set_title(f'{model} {setting} (FP {fp:.1f})', fontsize=8)
        margin = FP_MARGINS.get(setting)
        if margin is not None:
            axis.axhline(margin, color='grey', linestyle='--', linewidth=0.8)
    axes[0][0].set_ylabel('points below FP top-1 (lower is better)')
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
