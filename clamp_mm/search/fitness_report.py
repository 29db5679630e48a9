"""The Markdown report of the fitness diagnostic (tools/diagnose_fitness.py).

Choice rule (stated in the report): the default fitness is the variant with
the highest mean, over blocks and classifiers, of the within-step Spearman
correlation with validation top-1: the search compares candidates of one
block drawn at one step around its current best, which is exactly that
setting. The pooled correlation (all steps together) is reported too; it is
inflated by the step size itself (larger steps are worse on both axes).
Where the records have half-split accuracies, the report adds the noise
ceiling of the validation top-1 itself (:func:`noise_ceiling`).
"""
import json
import os
import os.path as osp
from typing import Dict, List, Sequence

from .fitness_diagnostic import (SEARCH_FIELDS, VARIANTS, CandidateRecord,
                                 correlations, nan_mean, noise_ceiling)


def _records(payload: dict) -> List[CandidateRecord]:
    return [CandidateRecord(r['scope'], r['step_levels'], r['accuracy'],
                            r['terms'], tuple(r.get('half_accuracies', ())))
            for r in payload['records']]


def _scopes(records: Sequence[CandidateRecord]) -> List[str]:
    scopes: List[str] = []
    for record in records:
        if record.scope not in scopes:
            scopes.append(record.scope)
    return scopes


def _fmt(value: float) -> str:
    return 'n/a' if value != value else f'{value:+.2f}'


def block_scopes(records: Sequence[CandidateRecord]) -> List[str]:
    """Scopes of single blocks (everything but the whole model)."""
    return [s for s in _scopes(records) if s != 'whole model']


def choose_default(payloads: Sequence[dict]) -> Dict[str, float]:
    """Per variant, the mean within-step block correlation over models."""
    per_block = [correlations(records, scope, within_steps=True)
                 for records in map(_records, payloads)
                 for scope in block_scopes(records)]
    return {variant: nan_mean([c[variant] for c in per_block])
            for variant in VARIANTS}


def block_means(records: Sequence[CandidateRecord]) -> Dict[str, float]:
    """Per variant, the mean within-step correlation over single blocks."""
    per_block = [correlations(records, scope, within_steps=True)
                 for scope in block_scopes(records)]
    return {variant: nan_mean([c[variant] for c in per_block])
            for variant in VARIANTS}


def mean_block_ceiling(records: Sequence[CandidateRecord]) -> float:
    """Mean within-step noise ceiling over the single blocks (NaN if the
    records have no half-split accuracies)."""
    return nan_mean([noise_ceiling(records, scope)['ceiling']
                     for scope in block_scopes(records)])


def _ceiling_table(records) -> List[str]:
    lines = ['| scope | split-half Spearman | reliability (Spearman-Brown) '
             '| ceiling |', '|---|---|---|---|']
    for scope in _scopes(records):
        values = noise_ceiling(records, scope)
        lines.append(f'| {scope} | {_fmt(values["split_half"])} | '
                     f'{_fmt(values["reliability"])} | '
                     f'{_fmt(values["ceiling"])} |')
    return lines


def _accuracy_table(payload: dict, records) -> List[str]:
    steps = payload['steps']
    lines = ['| scope | observer | ' + ' | '.join(
        f'step {s:g}: mean / max' for s in steps) + ' |',
        '|---|---|' + '---|' * len(steps)]
    for scope in _scopes(records):
        chosen = [r for r in records if r.scope == scope]
        observer = [r.accuracy for r in chosen if r.step_levels == 0]
        cells = []
        for step in steps:
            values = [r.accuracy for r in chosen if r.step_levels == step]
            cells.append(f'{sum(values) / len(values):.2f} / '
                         f'{max(values):.2f}' if values else 'n/a')
        lines.append(f'| {scope} | {observer[0]:.2f} | ' + ' | '.join(cells)
                     + ' |')
    return lines


def _correlation_table(records, within_steps: bool) -> List[str]:
    scopes = _scopes(records)
    blocks = block_scopes(records)
    per_scope = {scope: correlations(records, scope, within_steps)
                 for scope in scopes}
    lines = ['| fitness | ' + ' | '.join(scopes) + ' | mean of blocks |',
             '|---|' + '---|' * (len(scopes) + 1)]
    for variant in VARIANTS:
        mean = nan_mean([per_scope[s][variant] for s in blocks])
        lines.append(f'| {variant} | ' + ' | '.join(
            _fmt(per_scope[s][variant]) for s in scopes) + f' | {_fmt(mean)} |')
    return lines


def write_report(payloads: Sequence[dict], path: str) -> str:
    """Write the report (and the records as JSON beside it).

    Args:
        payloads (Sequence[dict]): What tools/diagnose_fitness.py saved per
            model.
        path (str): Markdown file.

    Returns:
        str: ``path``.
    """
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    data_dir = osp.splitext(path)[0]
    os.makedirs(data_dir, exist_ok=True)
    for payload in payloads:
        with open(osp.join(data_dir, f'{payload["model"]}.json'), 'w') as f:
            json.dump(payload, f, indent=1)
    scores = choose_default(payloads)
    ranked = sorted((v for v in scores if scores[v] == scores[v]),
                    key=lambda v: -scores[v])
    lines = [
        '# Which search fitness predicts accuracy?', '',
        'Written by `tools/diagnose_fitness.py` (records in '
        f'`{data_dir}/`). Candidates are drawn around the min-max '
        'observer solution of the quantizer on this branch, with the '
        "search's `'levels'` mutation: every scale of the block (weights "
        'per channel, activations per tensor) times `1 + U(-l, l) / (2^b - '
        '1)`, which moves a value at the end of its range by at most `l` '
        'rounding levels. Each fitness is computed on the 32 CLAMP stage-1 '
        'images; accuracy is top-1 on the validation split (Fashion-MNIST '
        'training images 55000..59999; the shipped models saw them in '
        'training, so the figures are optimistic, the rankings still '
        'meaningful). The test split is never read. Correlation: Spearman '
        'of `-fitness` with validation top-1 (1 = the fitness orders '
        'candidates exactly as accuracy does).', '',
        '- **within-step**: candidates of one step size (plus the observer '
        'solution), averaged over the step sizes: what the search faces '
        'when it compares children of one block.',
        '- **pooled**: all step sizes together; inflated by the step size '
        'itself (bigger steps are worse on both axes).',
        '- `FP input`: the block is fed the cached FP block input; '
        "`quantized input`: the quantized model's own block input (error "
        'accumulation). `output_kl`: KL of the FP logits to the logits of '
        'the rest of the network run from the block for each candidate.',
        '- Whole model: every block perturbed at once; block terms summed '
        'over the blocks.', '',
        '## Choice', '',
        'Rule: the highest mean within-step block correlation over the '
        'classifiers run here.', '',
        '| fitness | search config | mean within-step block correlation |',
        '|---|---|---|'
    ]
    for variant in ranked:
        fitness, block_input = SEARCH_FIELDS[variant]
        lines.append(f'| {variant} | `fitness={fitness!r}, '
                     f'block_input={block_input!r}` | '
                     f'{_fmt(scores[variant])} |')
    if ranked:
        lines += ['', f'Highest: **{ranked[0]}**.']
    records_of = [_records(payload) for payload in payloads]
    if any(r.half_accuracies for records in records_of for r in records):
        lines += ['', '### Against the noise ceiling', '',
                  'The validation top-1 the fitnesses are correlated with is '
                  'itself measured on a few thousand images, and candidates '
                  'differ by tenths of a point. *Ceiling*: the within-step '
                  'Spearman of the even-image top-1 with the odd-image top-1, '
                  'stepped up to the whole split (Spearman-Brown) and square-'
                  'rooted, about the highest correlation any fitness can '
                  'reach against it; mean over blocks, as the correlations.',
                  '', '| model | val images | ceiling | best fitness here | '
                  'its correlation | default `info_nce` (FP input) |',
                  '|---|---|---|---|---|---|']
        for payload, records in zip(payloads, records_of):
            means = block_means(records)
            best = max((v for v in means if means[v] == means[v]),
                       key=lambda v: means[v], default=None)
            default = 'info_nce (FP input; the original)'
            lines.append(
                f'| {payload["model"]} | {payload["num_val"]} | '
                f'{_fmt(mean_block_ceiling(records))} | {best or "n/a"} | '
                f'{_fmt(means[best]) if best else "n/a"} | '
                f'{_fmt(means[default])} |')
    for payload, records in zip(payloads, records_of):
        lines += [
            '', f'## {payload["model"]}, {payload["setting"]}', '',
            f'- Model: `{payload["origin"]}`; FP validation top-1 '
            f'{payload["fp_val_top1"]:.2f} on {payload["num_val"]} images.',
            f'- Steps (levels): {payload["steps"]}, '
            f'{payload["candidates_per_step"]} candidates each per scope, '
            f'seed {payload["seed"]}; CLAMP stage 1 '
            f'{payload["generator_iterations"]} iterations '
            f'({payload["generation_s"]:.0f} s, 0 if cached); diagnostic '
            f'{payload["diagnostic_s"]:.0f} s with {payload["threads"]} '
            'thread(s).',
            f'- Command: `{payload["command"]}`', '',
            '### Validation top-1 of the candidates', ''
        ]
        lines += _accuracy_table(payload, records)
        lines += ['', '### Spearman, within-step', '']
        lines += _correlation_table(records, within_steps=True)
        lines += ['', '### Spearman, pooled over step sizes', '']
        lines += _correlation_table(records, within_steps=False)
        if any(r.half_accuracies for r in records):
            lines += ['', '### Noise ceiling of the validation top-1 '
                      '(within-step)', '']
            lines += _ceiling_table(records)
    with open(path, 'w') as file:
        file.write('\n'.join(lines) + '\n')
    return path
