"""The benchmark's results file and its Markdown report."""
import datetime
import json
import os
import os.path as osp
import platform
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

import torch

from .methods import DEFAULT_SETTINGS, METHOD_SPECS
from .summary import (STAGES, check_stage2_targets, check_targets,
                      metric_digits, recorded_budgets, summarise)
from .tasks import MODEL_SPECS

#: Packages whose versions are recorded with the figures.
VERSIONED_PACKAGES = ('torch', 'torchvision', 'timm', 'mmengine', 'mmcv',
                      'mmpretrain', 'mmdet', 'mmseg', 'numpy', 'matplotlib')


def _recipe_words(run: dict) -> str:
    """How the run's recipe quantized (runs before issue 13 stored none:
    they used min-max observers at every quant point)."""
    recipe = run.get('quantizer_recipe')
    if not recipe:
        return ('min-max observers, per-channel asymmetric weights, '
                'per-tensor activations at every quant point of method.md '
                'section 1')
    preset = (f'preset {recipe["preset"]!r}: ' if recipe.get('preset')
              else '')
    return (preset + f'the {recipe.get("protocol", "full")!r} protocol, '
            f'{recipe["weight_observer"]} per-channel weights, '
            f'{recipe["act_observer"]} activations, '
            f'{recipe["softmax_quantizer"]} softmax, quantizer types '
            f'{recipe.get("point_quantizers", {})}, LayerNorm folding '
            f'{"on" if recipe.get("reparameterize_layernorm") else "off"}')


def environment() -> dict:
    """Machine, threads, load and package versions, for the results."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001 (absent or broken: say so)
            versions[name] = 'not importable'
    try:
        commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                                capture_output=True, text=True,
                                check=False).stdout.strip() or 'unknown'
    except OSError:
        commit = 'unknown'
    try:
        with open('/proc/cpuinfo') as file:
            cpu = next((line.split(':', 1)[1].strip() for line in file
                        if line.startswith('model name')), platform.machine())
    except OSError:
        cpu = platform.processor() or platform.machine()
    return dict(
        date=datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d %H:%M UTC'),
        machine=platform.machine(), cpu=cpu, cpu_count=os.cpu_count(),
        load_average=list(os.getloadavg()) if hasattr(os, 'getloadavg')
        else None,
        threads=torch.get_num_threads(), python=sys.version.split()[0],
        platform=platform.platform(), git_commit=commit, versions=versions)


def save_results(path: str, payload: dict) -> None:
    """Write the results JSON atomically (a crash leaves the old file)."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    temporary = path + '.tmp'
    with open(temporary, 'w') as file:
        json.dump(payload, file, indent=1)
    os.replace(temporary, path)


def _fmt(value: Optional[float], digits: int = 2) -> str:
    return '-' if value is None else f'{value:.{digits}f}'


def _mean_std(mean, std, count, digits=2) -> str:
    if mean is None:
        return 'not run'
    text = f'{mean:.{digits}f}'
    if std is not None:
        text += f' ± {std:.{digits}f}'
    return text + ('' if count == 1 else f' (n={count})')


def _mis_prediction(cell) -> str:
    mean, std, count = cell.value('misprediction')
    return 'n/a' if mean is None else _mean_std(mean, std, count, 1)


def _mixed_budgets(payload: dict) -> str:
    """The weight-bit budgets of the mixed-precision records (merged runs
    may differ), else the run's configured one."""
    budgets = recorded_budgets(payload['records'])
    if not budgets:
        return str(payload['run']['config']['mixed_avg_weight_bits'])
    return ' / '.join(map(str, budgets))


def _headline_table(cells, model, metric, methods, settings) -> List[str]:
    lines = ['| method | ' + ' | '.join(settings) + ' |',
             '|---' * (len(settings) + 1) + '|']
    for method in methods:
        row = []
        for setting in settings:
            cell = cells.get((model, method, setting))
            row.append(_mean_std(*cell.metric(metric),
                                 digits=metric_digits(metric)) if cell
                       else 'not run')
        lines.append(f'| {METHOD_SPECS[method].label} | ' + ' | '.join(row)
                     + ' |')
    return lines


def _cost_table(cells, model, methods, settings) -> List[str]:
    lines = [
        '| setting | method | time s (mean ± std) | ' +
        ' | '.join(f'{stage} s' for stage in STAGES) +
        ' | peak MiB | size MB | GBOPs | avg W bits | avg A bits | '
        'FP mis-pred. % |', '|---' * (len(STAGES) + 9) + '|'
    ]
    for setting in settings:
        for method in methods:
            cell = cells.get((model, method, setting))
            if cell is None:
                continue
            shared = cell.records[0].get('shared_with')
            label = METHOD_SPECS[method].label + (
                f' (= {shared} cell)' if shared else '')
            lines.append(
                f'| {setting} | {label} | '
                f'{_mean_std(*cell.quantization_seconds(), digits=1)} | ' +
                ' | '.join(_fmt(cell.stage_seconds(stage), 1)
                           for stage in STAGES) +
                f' | {_fmt(cell.peak_mib(), 0)} | '
                f'{_fmt(cell.cost("size_mb"), 4)} | '
                f'{_fmt(cell.cost("gbops"), 4)} | '
                f'{_fmt(cell.value("avg_weight_bits")[0])} | '
                f'{_fmt(cell.value("avg_activation_bits")[0])} | '
                f'{_mis_prediction(cell)} |')
    return lines


def _fp_consistency(cells, model, metric) -> str:
    fp_cells = [cell for key, cell in cells.items()
                if key[0] == model and key[1] == 'fp']
    if not fp_cells:
        return 'FP was not run.'
    reference = {record['seed']: record['metrics'][metric]
                 for record in fp_cells[0].records}
    # The float model does not depend on the seed: a seed whose FP cell was
    # not run (e.g. merged from a run without 'fp') is held to any FP cell.
    any_seed = next(iter(reference.values()))
    mismatches = []
    checked = 0
    for key, cell in cells.items():
        if key[0] != model or key[1] == 'fp':
            continue
        for record, value in zip(cell.records, cell.fp_metric(metric)):
            if value is None:
                continue
            checked += 1
            expected = reference.get(record['seed'], any_seed)
            if value != expected:
                mismatches.append(f'{key[1]} {key[2]} seed {record["seed"]}'
                                  f' ({value} vs {expected})')
    if mismatches:
        return ('FP check FAILED: with their quantizers off these models do '
                'not reproduce the float figure: ' + '; '.join(mismatches))
    if not checked:
        return ('FP check not run (`--no-fp-check`): quantized models were '
                'not re-scored with their quantizers off.')
    return (f'FP check: in all {checked} quantized cells the model with its '
            f'quantizers switched off reproduces the float {metric} exactly '
            '(no method changed a float weight).')


def _not_run(cells, seeds) -> List[str]:
    lines = []
    models_run = set(key[0] for key in cells)
    for key in MODEL_SPECS:
        if key not in models_run:
            lines.append(f'- model `{key}`: not run at all.')
    for model in sorted(models_run):
        missing = [f'{setting} {method}' for setting in DEFAULT_SETTINGS
                   for method in METHOD_SPECS
                   if (model, method, setting) not in cells]
        if missing:
            lines.append(f'- model `{model}`: ' + ', '.join(missing) + '.')
        partial = {}
        for key, cell in cells.items():
            if key[0] == model and cell.seeds != sorted(seeds):
                partial.setdefault(tuple(cell.seeds), []).append(
                    f'{key[2]} {key[1]}')
        for seeds_run, names in partial.items():
            lines.append(f'- `{model}`, seeds {list(seeds_run)} only (of '
                         f'{sorted(seeds)}): ' + ', '.join(names) + '.')
    return lines or ['- nothing: every cell of the default grid ran.']


def write_report(path: str, payload: dict, figures: Dict[str, List[str]],
                 notes: Optional[str] = None) -> str:
    """Write the Markdown report of ``payload`` (the results file's content).

    Args:
        path (str): The ``.md`` file.
        payload (dict): ``records``, ``environment``, ``run`` (command,
            models, methods, settings, seeds, config, origins, metrics).
        figures (dict[str, list[str]]): Figure paths per model.
        notes (str, optional): Markdown appended verbatim (what was not run
            and why, observations). Defaults to None.

    Returns:
        str: ``path``.
    """
    cells = summarise(payload['records'])
    run, env = payload['run'], payload['environment']
    base = osp.dirname(path) or '.'
    lines = [
        '# Benchmark: every calibration method side by side', '',
        'Generated by `tools/benchmark.py`; do not edit by hand (notes come '
        'from `--notes`). Exact command:', '', '```',
        run['command'] + ('\n' + run['report_command']
                          if run.get('report_command') else ''), '```', '',
        '## Machine and versions', '',
        f'- {env["date"]}, {env["cpu"]} ({env["machine"]}), '
        f'{env["cpu_count"]} CPU cores shared with other jobs, '
        f'**{env["threads"]} torch thread(s)**, load average at start '
        f'{env.get("load_average")} and at end '
        f'{payload.get("load_average_end")}: wall times are on a busy '
        'machine and vary with its load.',
        f'- Python {env["python"]}, ' + ', '.join(
            f'{name} {version}' for name, version in env['versions'].items())
        + f', git {env["git_commit"]}.', '',
        '## What ran', '',
        f'- seeds {run["seeds"]}; settings {run["settings"]}; methods ' +
        ', '.join(f'`{m}`' for m in run['methods']) + '.',
        f'- Benchmark config: `{json.dumps(run["config"])}`.',
        '- Quantizer (every method): clamp_mm `QuantRecipe` with the '
        'setting\'s bits, ' + _recipe_words(run) + ', head in float. '
        'Mixed precision starts at 8-bit weights, is '
        f'brought under {_mixed_budgets(payload)} average '
        'weight bits by the budget and searched with the setting\'s '
        'activation bits.',
        '- Selection: nothing is chosen by test accuracy; test labels are '
        'read only to score finished models.',
    ]
    eval_split = run['config'].get('eval_split', 'test')
    scored = ('test images' if eval_split == 'test' else
              f'{eval_split} images (held-out training images, not the test '
              'split)')
    for model, origin in run['origins'].items():
        lines.append(f'- `{model}`: {origin}; scored on '
                     f'{run["num_test"].get(model)} {scored}.')
    for model, metric in run['metrics'].items():
        model_methods = [m for m in METHOD_SPECS
                         if any(k[:2] == (model, m) for k in cells)]
        model_settings = list(dict.fromkeys(
            k[2] for k in cells if k[0] == model))
        lines += ['', f'## {model}', '',
                  f'### {metric} (mean ± std over seeds)', '']
        lines += _headline_table(cells, model, metric, model_methods,
                                 model_settings)
        extra = [key for key in MODEL_SPECS[model].metrics if key != metric]
        for key in extra:
            lines += ['', f'### {key}', '']
            lines += _headline_table(cells, model, key, model_methods,
                                     model_settings)
        lines += ['', _fp_consistency(cells, model, metric), '',
                  '### Targets of issue 8', '',
                  '| target | verdict | figures |', '|---|---|---|']
        reduced = bool(run['config'].get('generator_iterations')
                       or run['config'].get('source_iterations')
                       or run['config'].get('search'))
        for target, verdict, figures_text in check_targets(cells, model,
                                                           metric):
            if reduced and 'min' in target and verdict == 'met':
                verdict = ('met only at this run\'s reduced stage-1 and '
                           'search budgets')
            lines.append(f'| {target} | **{verdict}** | {figures_text} |')
        lines += ['', '### Targets of issue 14 (stage 2 pays for itself)', '',
                  '| target | verdict | figures |', '|---|---|---|']
        lines += [f'| {target} | **{verdict}** | {figures_text} |'
                  for target, verdict, figures_text in
                  check_stage2_targets(cells, model, metric)]
        lines += ['', '### Cost', '',
                  'Time = the method\'s own stages (generate + calibrate + '
                  'search + refresh), evaluation excluded. A calibration set '
                  'is made once per model and seed and its *generate* time '
                  'is counted in every cell that uses it (for real data: reading '
                  'the training split). *search* excludes '
                  'the image refreshes of the cyclic adaptation '
                  '(*refresh*). Peak MiB = largest growth of the resident '
                  'memory over one stage (sampled every 20 ms). Size and '
                  'GBOPs per image at the calibration resolution (float '
                  'operands count 32 bits). FP mis-pred. = share of a '
                  'set\'s images that the FP model does not classify as '
                  'their target label (random labels of CLAMP and PSAQ-ViT '
                  'v1; true labels for real data; none for noise and v2).',
                  '']
        lines += _cost_table(cells, model, model_methods, model_settings)
        if figures.get(model):
            lines += ['', '### Figures', '']
            for figure in figures[model]:
                relative = osp.relpath(figure, base)
                lines.append(f'![{osp.basename(figure)}]({relative})')
                lines.append('')
    lines += ['', '## Cells not run', '']
    lines += _not_run(cells, run['seeds'])
    if notes:
        lines += ['', notes.strip()]
    os.makedirs(base, exist_ok=True)
    with open(path, 'w') as file:
        file.write('\n'.join(lines) + '\n')
    return path
