"""The report as Markdown: one section per aspect of a run, and a
side-by-side comparison of two runs.

Every path written is relative to the work dir (the report sits at its
top), so the folder can be moved, zipped or attached to an issue.
"""
from numbers import Number
from typing import Callable, Dict, List, Optional, Sequence

from .run_files import RunFiles

#: Section titles, in report order (tests look for each).
SECTION_TITLES = (
    'Metrics: FP vs quantized',
    'Model size and BOPs',
    'Time per stage',
    'Synthetic calibration images',
    'Stage 1: generator losses',
    'Patch-similarity density',
    'Search fitness',
    'Bits per layer',
    'Per-layer sensitivity',
)


def format_number(value) -> str:
    """Floats with 4 decimals (as the results table), the rest as is."""
    if isinstance(value, bool) or not isinstance(value, Number):
        return '-' if value is None else str(value)
    return f'{value:.4f}' if isinstance(value, float) else str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join('---' for _ in header) + '|']
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    return lines


def _figure(figures: Dict[str, Optional[str]], name: str,
            caption: str) -> List[str]:
    path = figures.get(name)
    return [f'![{caption}]({path})', ''] if path else []


def _metric_rows(quantized: dict, fp: Optional[dict]) -> List[List[str]]:
    keys = list(quantized) + [key for key in (fp or {})
                              if key not in quantized]
    rows = []
    for key in keys:
        row = [key]
        if fp is not None:
            row.append(format_number(fp.get(key)))
        row.append(format_number(quantized.get(key)))
        if fp is not None:
            both = (fp.get(key), quantized.get(key))
            numeric = all(isinstance(v, Number) and not isinstance(v, bool)
                          for v in both)
            row.append(f'{both[1] - both[0]:+.4f}' if numeric else '-')
        rows.append(row)
    return rows


def metrics_section(run: RunFiles, figures) -> List[str]:
    quantized, fp = run.results['quantized'], run.results.get('fp')
    if not quantized and not fp:
        return ['No metrics: the model was quantized without an evaluation '
                '(`clamp_mm.quantize_model`; `tools/quantize.py` evaluates '
                'it with the task\'s metrics).']
    header = ['metric'] + (['FP'] if fp is not None else []) + [run.label]
    if fp is not None:
        header.append('delta')
    lines = _table(header, _metric_rows(quantized, fp))
    recipe = run.results.get('recipe')
    if recipe:
        lines += ['', 'Recipe: ' + ', '.join(
            f'{key}={value}' for key, value in recipe.items()
            if not isinstance(value, (dict, list)) and value is not None)]
    if fp is None:
        lines += ['', 'FP not evaluated in this run (`--fp` adds it).']
    return lines


def cost_section(run: RunFiles, figures) -> List[str]:
    cost = run.results.get('cost')
    if not cost:
        return ['Not recorded in this run.']
    height, width = cost.get('resolution', ['?', '?'])
    rows = [
        ['size (MB)', format_number(cost['float_size_mb']),
         format_number(cost['size_mb']),
         f'{cost["float_size_mb"] / cost["size_mb"]:.2f}x smaller'],
        [f'BOPs per {height}x{width} image (G)',
         format_number(cost['float_gbops']), format_number(cost['gbops']),
         f'{cost["float_gbops"] / cost["gbops"]:.2f}x fewer'],
    ]
    return _table(['', 'FP', run.label, 'ratio'], rows)


def times_section(run: RunFiles, figures) -> List[str]:
    stages = run.run_data.get('stage_seconds') or {}
    if not stages:
        return ['Not recorded in this run (made without the report hook).']
    lines = _table(['stage', 'seconds'],
                   [[stage, f'{seconds:.1f}']
                    for stage, seconds in stages.items()])
    details = []
    loss_log = run.run_data.get('loss_log') or []
    if loss_log:
        details.append(f'generator: {len(loss_log)} steps, '
                       f'{sum(e.get("seconds", 0) for e in loss_log):.1f} s')
    times = (run.search or {}).get('times') or {}
    if times:
        details.append('search: ' + ', '.join(
            f'{key} {value:.1f} s' for key, value in times.items()))
    if details:
        lines += ['', 'Inside the stages: ' + '; '.join(details) + '.']
    return lines


def images_section(run: RunFiles, figures) -> List[str]:
    if run.images is None:
        return ['No synthetic images in this work dir (the run did not '
                'save them, or restored a quantized model).']
    lines = _figure(figures, 'synthetic_images',
                    'synthetic calibration images')
    if not lines:
        lines = ['Figure not drawn (see the note at the top).', '']
    return lines + [f'{len(run.images)} images as stage 1 made them (before '
                    'the search refreshed them), from '
                    '`synthetic_images.pth`.']


def losses_section(run: RunFiles, figures) -> List[str]:
    loss_log = run.run_data.get('loss_log') or []
    if not loss_log:
        return ['No generator losses: the images came from the cache of an '
                'earlier run, from a generator that does not optimise, or '
                'the run was not a quantization.']
    last = loss_log[-1]
    lines = _figure(figures, 'stage1_losses', 'stage 1 losses')
    terms = ', '.join(f'{key} {value:.4f}' for key, value in last.items()
                      if key not in ('batch', 'round', 'iteration', 'lr',
                                     'seconds'))
    return lines + [f'Last step: {terms}.']


def density_section(run: RunFiles, figures) -> List[str]:
    data = run.run_data.get('patch_similarity')
    if not data:
        reason = run.run_data.get('patch_similarity_error',
                                  'not measured in this run')
        return [f'Not available: {reason}.']
    sets = ', '.join(f'{name} ({count} images)'
                     for name, count in data['num_images'].items())
    lines = _figure(figures, 'patch_similarity', 'patch similarity density')
    note = (' Real images: the first batch of the task\'s test '
            'dataloader.' if 'real' in data['densities'] else
            ' No real images were available, so the reference is Gaussian '
            'noise only.')
    return lines + [
        'Density of the cosine similarity of all patch pairs inside an '
        'image, per MHSA layer, for the FP model on: ' + sets + '.' + note
    ]


def search_section(run: RunFiles, figures) -> List[str]:
    search = run.search
    if not search or not search.get('history'):
        return ['No search in this run (observers only).']
    lines = _figure(figures, 'search_fitness', 'search fitness')
    rows = [[block, format_number(search['initial_fitness'].get(block)),
             format_number(best)]
            for block, best in search['best_fitness'].items()]
    lines += _table(['block', 'fitness at first visit', 'best fitness'],
                    rows)
    lines += ['', f'{search["visits_done"]}/{search["total_visits"]} block '
              f'visits, {search["num_scored"]} candidates scored, finished: '
              f'{search["finished"]}. Lower fitness is better; images '
              'refreshed by the cyclic adaptation change its scale, so a '
              'block\'s best can end above its first value.']
    return lines


def bits_section(run: RunFiles, figures) -> List[str]:
    bits = run.run_data.get('bits')
    if not bits:
        return ['Not recorded in this run.']
    used = [entry for entry in bits.values()
            if entry.get('mode', 'quantize') == 'quantize']
    counts: Dict[str, int] = {}
    for entry in used:
        key = f'{"W" if entry["point"] == "weight" else "A"}{entry["bits"]}'
        counts[key] = counts.get(key, 0) + 1
    lines = _figure(figures, 'bit_map', 'bits per layer')
    metrics = (run.search or {}).get('metrics') or {}
    average = ''
    if 'avg_weight_bits' in metrics:
        average = (f' Average: W{metrics["avg_weight_bits"]:.2f}/'
                   f'A{metrics["avg_activation_bits"]:.2f}.')
    weight_bits = {e['bits'] for e in used if e['point'] == 'weight'}
    activation_bits = {e['bits'] for e in used if e['point'] != 'weight'}
    mixed = len(weight_bits) > 1 or len(activation_bits) > 1
    return lines + [
        f'{len(used)} quantizers: ' + ', '.join(
            f'{key} x{count}' for key, count in sorted(counts.items())) +
        ('; the bit-widths differ between layers.' if mixed else '.') +
        average
    ]


def sensitivity_section(run: RunFiles, figures) -> List[str]:
    rows = run.run_data.get('sensitivity')
    if not rows:
        return ['Not measured in this run.']
    lines = _figure(figures, 'sensitivity', 'per-layer sensitivity')
    has_head = rows[0].get('top1_drop') is not None
    header = ['layer', 'bits', 'quantizers', 'output error']
    if has_head:
        header.append('top-1 drop (points)')
    body = []
    for row in rows:
        cells = [row['layer'], row['bits'], str(len(row['quantizers'])),
                 f'{row["output_error"]:.4f}']
        if has_head:
            cells.append(f'{row["top1_drop"]:.2f}')
        body.append(cells)
    lines += _table(header, body)
    cost = run.run_data.get('sensitivity_cost') or {}
    layers = [row for row in rows if row['layer'] != '(all layers)']
    worst = sorted(layers, key=lambda row: -row['output_error'])[:3]
    lines += ['', 'Each row quantizes only that layer (its calibrated '
              'quantizers switched on, every other one off; nothing '
              'recalibrated); the last row is the whole quantized model. '
              'Output error: relative L2 distance of the model output to '
              'FP' + (', top-1 drop: images whose prediction leaves the FP '
                      'label, on the synthetic images' if has_head else '') +
              '.']
    if cost:
        lines += ['', f'Cost: {cost["forwards"]} forwards of '
                  f'{cost["images"]} synthetic images, '
                  f'{cost["seconds"]:.1f} s.']
    if worst:
        lines += ['', 'Most sensitive: ' + ', '.join(
            f'{row["layer"]} ({row["output_error"]:.4f})' for row in worst) +
                  '.']
    return lines


SECTIONS: Sequence[Callable] = (metrics_section, cost_section, times_section,
                                images_section, losses_section,
                                density_section, search_section,
                                bits_section, sensitivity_section)


def render_report(run: RunFiles, figures: Dict[str, Optional[str]],
                  notes: Sequence[str] = ()) -> str:
    """The run report as Markdown.

    Args:
        run (RunFiles): The work dir's data.
        figures (dict[str, str | None]): Figure name to its path relative
            to the work dir (None: not drawn).
        notes (Sequence[str]): Lines shown under the title (e.g. why there
            are no figures). Defaults to ().

    Returns:
        str: The report.
    """
    lines = [f'# Run report: {run.label} ({run.name})', '']
    lines += [f'> {note}' for note in notes]
    if notes:
        lines.append('')
    for title, section in zip(SECTION_TITLES, SECTIONS):
        lines += [f'## {title}', ''] + section(run, figures) + ['']
    lines.append('Regenerate with `python tools/analyze_quant.py WORK_DIR`.')
    return '\n'.join(lines) + '\n'


def render_comparison(runs: Sequence[RunFiles],
                      figures: Sequence[Dict[str, Optional[str]]]) -> str:
    """Two (or more) runs side by side: metrics, cost, times, sensitivity,
    figures.

    Args:
        runs (Sequence[RunFiles]): The runs.
        figures (Sequence[dict]): Per run, figure name to its path relative
            to the comparison file.

    Returns:
        str: The comparison as Markdown.
    """
    names = [f'{run.name} ({run.label})' for run in runs]
    lines = ['# Run comparison: ' + ' vs '.join(names), '',
             '## Metrics', '']
    keys: List[str] = []
    for run in runs:
        for key in list(run.results.get('fp') or {}) + list(
                run.results['quantized']):
            if key not in keys:
                keys.append(key)
    rows = []
    for key in keys:
        for kind in ('fp', 'quantized'):
            values = [(run.results.get(kind) or {}).get(key) for run in runs]
            if any(value is not None for value in values):
                rows.append([f'{"FP" if kind == "fp" else "quantized"} '
                             f'{key}'] + [format_number(v) for v in values])
    lines += _table(['metric'] + names, rows) + ['', '## Cost and time', '']
    rows = []
    for field in ('size_mb', 'gbops'):
        rows.append([field] + [format_number(
            (run.results.get('cost') or {}).get(field)) for run in runs])
    stages: List[str] = []
    for run in runs:
        for stage in run.run_data.get('stage_seconds') or {}:
            if stage not in stages:
                stages.append(stage)
    for stage in stages:
        rows.append([f'{stage} (s)'] + [
            format_number((run.run_data.get('stage_seconds') or {}).get(
                stage)) for run in runs])
    lines += _table([''] + names, rows) + ['']
    by_layer: Dict[str, List[Optional[float]]] = {}
    for index, run in enumerate(runs):
        for row in run.run_data.get('sensitivity') or []:
            by_layer.setdefault(row['layer'], [None] * len(runs))[index] = (
                row['output_error'])
    if by_layer:
        lines += ['## Per-layer sensitivity (output error)', '']
        lines += _table(['layer'] + names, [[layer] + [format_number(v)
                                                       for v in values]
                                            for layer, values in
                                            by_layer.items()]) + ['']
    shown = [name for name in ('synthetic_images', 'patch_similarity',
                               'search_fitness', 'bit_map', 'sensitivity')
             if any(run_figures.get(name) for run_figures in figures)]
    if shown:
        lines += ['## Figures', '']
        rows = [[name] + [f'![{name}]({run_figures[name]})'
                          if run_figures.get(name) else '-'
                          for run_figures in figures] for name in shown]
        lines += _table(['figure'] + names, rows) + ['']
    return '\n'.join(lines) + '\n'
