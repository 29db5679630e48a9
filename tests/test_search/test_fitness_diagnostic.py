"""The fitness diagnostic: candidates, correlations, report, command line."""
import copy
import os.path as osp
import sys

import pytest
import torch

from clamp_mm.models import find_adapter
from clamp_mm.quant import set_quant_mode
from clamp_mm.search.fitness_diagnostic import (VARIANTS, CandidateRecord,
                                                FitnessDiagnostic,
                                                correlations, noise_ceiling,
                                                spearman)
from clamp_mm.search.fitness_report import choose_default, write_report
from clamp_mm.search.fitness_terms import output_divergence
from search_models import quantized_tiny

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_spearman_sign_and_ties():
    assert spearman([3, 2, 1], [1, 2, 3]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [1, 2, 3]) == pytest.approx(-1.0)
    assert spearman([1, 2], [2, 1]) != spearman([1, 2], [2, 1])  # NaN


def test_output_kl_with_own_input_ranks_like_an_output_accuracy():
    """With an 'accuracy' that is minus the model's output KL, the variant
    computing exactly that KL must correlate perfectly, in every scope."""
    _, model, images = quantized_tiny('timm_vit')
    adapter = find_adapter(model)
    fp_model = set_quant_mode(copy.deepcopy(model), 'off')
    with torch.no_grad():
        fp_output = find_adapter(fp_model).forward_images(images)

    def evaluate():
        with torch.no_grad():
            return -output_divergence(adapter.forward_images(images),
                                      fp_output)

    before = {name: buffer.clone() for name, buffer in model.named_buffers()}
    diagnostic = FitnessDiagnostic(model, images, evaluate, (0.5, 2.0), 3)
    records = diagnostic.sample_all()
    scopes = [name for name, _ in diagnostic.run.blocks] + ['whole model']
    assert [r.scope for r in records] == [s for s in scopes
                                          for _ in range(1 + 2 * 3)]
    for scope in scopes:
        values = correlations(records, scope)
        assert values['output_kl (quantized input)'] == pytest.approx(1.0)
        assert set(values) == set(VARIANTS)
    # The model is left at the observer solution.
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, before[name]), name


def test_candidates_keep_half_split_accuracies():
    """With per-image correctness from ``evaluate``, each candidate keeps
    its top-1 on the even and odd images, and they average to its top-1."""
    _, model, images = quantized_tiny('timm_vit')
    adapter = find_adapter(model)
    fp_model = set_quant_mode(copy.deepcopy(model), 'off')
    with torch.no_grad():
        labels = find_adapter(fp_model).forward_images(images).argmax(-1)
    hits = []

    def evaluate():
        with torch.no_grad():
            hits.append(adapter.forward_images(images).argmax(-1) == labels)
        return hits[-1]

    records = FitnessDiagnostic(model, images, evaluate, (2.0,),
                                2).sample_all()
    assert len(records) == len(hits)
    for record, hit in zip(records, hits):
        even, odd = record.half_accuracies
        assert even == pytest.approx(100.0 * hit[0::2].float().mean().item())
        assert odd == pytest.approx(100.0 * hit[1::2].float().mean().item())
        assert record.accuracy == pytest.approx((even + odd) / 2)
    with pytest.raises(ValueError, match='at least 2 images'):
        FitnessDiagnostic(model, images, lambda: torch.ones(1, dtype=bool),
                          (2.0,), 1).sample_all()


def _halves_records(halves):
    """One block's candidates (observer + 4 at step 1) with given halves."""
    return [CandidateRecord('blocks.0', 0.0 if i == 0 else 1.0,
                            sum(h) / 2, {}, h) for i, h in enumerate(halves)]


def test_noise_ceiling_follows_the_agreement_of_the_halves():
    agree = _halves_records([(80, 81), (82, 83), (84, 84), (86, 85),
                             (88, 89)])
    assert noise_ceiling(agree, 'blocks.0') == pytest.approx(
        dict(split_half=1.0, reliability=1.0, ceiling=1.0))
    disagree = _halves_records([(80, 89), (82, 85), (84, 84), (86, 83),
                                (88, 81)])
    values = noise_ceiling(disagree, 'blocks.0')
    assert values['split_half'] == pytest.approx(-1.0)
    assert values['ceiling'] == 0.0
    # Half agreement 0.5 over the split: Spearman-Brown 2/3.
    middle = _halves_records([(1, 2), (2, 1), (3, 4), (4, 5), (5, 3)])
    values = noise_ceiling(middle, 'blocks.0')
    assert values['split_half'] == pytest.approx(0.6)
    assert values['reliability'] == pytest.approx(1.2 / 1.6)
    assert values['ceiling'] == pytest.approx((1.2 / 1.6) ** 0.5)
    no_halves = [CandidateRecord('blocks.0', s, 80.0 + s, {})
                 for s in (0, 1, 1, 1)]
    assert noise_ceiling(no_halves, 'blocks.0')['ceiling'] != \
        noise_ceiling(no_halves, 'blocks.0')['ceiling']  # NaN


def _payload(records):
    return dict(model='tiny', origin='test', setting='W4/A4',
                fp_val_top1=90.0, num_val=10, steps=[0.5, 1.0],
                candidates_per_step=2, generator_iterations=1, seed=0,
                generation_s=0.0, diagnostic_s=0.0, threads=1,
                command='test', records=[r.__dict__ for r in records])


def test_report_ranks_the_predictive_fitness_first(tmp_path):
    records = []
    for index, step in enumerate([0, 0.5, 0.5, 1.0, 1.0]):
        mse = float(index)
        terms = dict(info_nce=-mse, mse=mse, cosine=0.0,
                     output_kl=0.0, visit_output_mae=0.0)
        records.append(CandidateRecord('blocks.0', step, 90.0 - mse,
                                       dict(fp=terms, quantized=terms)))
    scores = choose_default([_payload(records)])
    assert scores['mse (FP input)'] == pytest.approx(1.0)
    assert scores['info_nce (FP input; the original)'] == pytest.approx(-1.0)
    path = write_report([_payload(records)], str(tmp_path / 'report.md'))
    text = open(path).read()
    assert 'Highest: **mse' in text
    assert 'Noise ceiling' not in text  # records without halves
    assert osp.isfile(tmp_path / 'report' / 'tiny.json')


def test_report_gives_the_noise_ceiling_when_halves_are_recorded(tmp_path):
    records = _halves_records([(80, 81), (82, 83), (84, 84), (86, 85),
                               (88, 89)])
    for record in records:
        terms = dict(info_nce=0.0, mse=-record.accuracy, cosine=0.0,
                     output_kl=0.0)
        record.terms = dict(fp=terms, quantized=terms)
    text = open(write_report([_payload(records)],
                             str(tmp_path / 'report.md'))).read()
    assert '| tiny | 10 | +1.00 | mse (FP input) | +1.00 | n/a |' in text
    assert '| blocks.0 | +1.00 | +1.00 | +1.00 |' in text


@pytest.mark.parametrize('arguments, message', [
    (['--steps', '-1'], '--steps must be > 0'),
    (['--candidates-per-step', '0'], '--candidates-per-step must be >= 1'),
    (['--setting', 'W9/A1'], '--setting'),
    (['--num-val', '6000'], '--num-val must be in 1..5000'),
    (['--generator-iterations', '2'],
     'generator_iterations=2, expected >= 4'),
    (['--num-images', '0'], 'num_images=0, expected >= 1'),
])
def test_command_line_rejects_bad_values(tmp_path, capsys, arguments,
                                         message):
    sys.path.insert(0, osp.join(REPO, 'tools'))
    try:
        import diagnose_fitness
    finally:
        sys.path.pop(0)
    out = tmp_path / 'report.md'
    with pytest.raises(SystemExit) as exit_info:
        diagnose_fitness.main(['--out', str(out), '--work-dir',
                               str(tmp_path)] + arguments)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error
    assert len(error.strip().splitlines()) == 1
    assert not out.exists()
