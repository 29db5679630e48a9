"""write_run_report: the runner-free end of a run, and its edge cases."""
import json
import os
import os.path as osp

import pytest

from clamp_mm.engine.results_table import RESULTS_FILE as ENGINE_RESULTS
from clamp_mm.engine.results_table import write_results
from clamp_mm.report import (REPORT_FILE, RESULTS_FILE, RUN_DATA_FILE,
                             SECTION_TITLES, NotAFinishedRunError,
                             analyse_quantized_model, write_run_report)
from clamp_mm.report import figures


def test_file_names_are_the_loops():
    from clamp_mm.engine import SYNTHETIC_IMAGES_FILE
    from clamp_mm.report.run_files import (
        SYNTHETIC_IMAGES_FILE as REPORT_IMAGES)
    assert RESULTS_FILE == ENGINE_RESULTS
    assert REPORT_IMAGES == SYNTHETIC_IMAGES_FILE


def finished_work_dir(folder):
    write_results(str(folder), {'top1': 50.0}, {'top1': 60.0},
                  dict(recipe=dict(weight_bits=4, act_bits=8),
                       cost=dict(size_mb=0.25, float_size_mb=1.0,
                                 gbops=0.5, float_gbops=8.0,
                                 resolution=[16, 16])))
    return str(folder)


def test_runner_free_report_with_sensitivity(quantized_vit, tmp_path):
    adapter, images = quantized_vit
    work_dir = finished_work_dir(tmp_path)
    analysis = analyse_quantized_model(adapter, images, progress=False)
    path = write_run_report(work_dir, analysis,
                            stage_seconds={'synthesis (stage 1)': 1.5})
    assert path == osp.join(work_dir, REPORT_FILE)
    text = open(path).read()
    assert all(f'## {title}\n' in text for title in SECTION_TITLES)
    assert '| top1 | 60.0000 | 50.0000 | -10.0000 |' in text
    assert '| synthesis (stage 1) | 1.5 |' in text
    assert '4.00x smaller' in text and '16.00x fewer' in text
    run_data = json.load(open(osp.join(work_dir, RUN_DATA_FILE)))
    assert len(run_data['sensitivity']) == len(analysis['sensitivity'])
    assert set(run_data['patch_similarity']['densities']) == {
        'synthetic', 'gaussian noise'}
    assert 'Gaussian noise only' in text


def test_unfinished_work_dir_refused_before_writing(tmp_path):
    with pytest.raises(NotAFinishedRunError, match='no quant_results.json'):
        write_run_report(str(tmp_path), {})
    assert os.listdir(tmp_path) == []


def test_without_matplotlib_the_report_says_so(quantized_vit, tmp_path,
                                               monkeypatch):
    def missing():
        raise figures.FiguresUnavailable('matplotlib is not installed, so '
                                         'the report has no figures')

    monkeypatch.setattr(figures, 'pyplot', missing)
    adapter, images = quantized_vit
    work_dir = finished_work_dir(tmp_path)
    text = open(write_run_report(
        work_dir, analyse_quantized_model(adapter, images,
                                          progress=False))).read()
    assert '> matplotlib is not installed' in text
    assert '![' not in text
    assert '| (all layers) |' in text  # the tables are still there


def test_hook_reads_the_loss_log_from_the_images_file(tmp_path):
    """A loop that keeps no synthetic_dataset (the runner-free pipeline
    behind it): the log comes from the images file's metadata."""
    from types import SimpleNamespace

    import torch

    from clamp_mm.engine.report_hook import synthesis_loss_log
    from clamp_mm.synth import SyntheticImageDataset
    runner = SimpleNamespace(test_loop=SimpleNamespace(),
                             work_dir=str(tmp_path))
    assert synthesis_loss_log(runner) is None
    log = [dict(batch=0, round=0, iteration=0, total=1.5)]
    SyntheticImageDataset(torch.zeros(1, 3, 4, 4),
                          metadata=dict(loss_log=log)).save(
                              str(tmp_path / 'synthetic_images.pth'))
    assert synthesis_loss_log(runner) == log
    kept = SyntheticImageDataset(torch.zeros(1, 3, 4, 4),
                                 metadata=dict(loss_log=[]))
    runner.test_loop.synthetic_dataset = kept
    assert synthesis_loss_log(runner) == []


def test_quantize_model_writes_the_report_when_asked(tmp_path):
    """The runner-free API: quantize_model(..., work_dir, report=True)."""
    import clamp_mm
    from timm.models.vision_transformer import VisionTransformer
    model = VisionTransformer(img_size=16, patch_size=4, embed_dim=16,
                              depth=2, num_heads=2, mlp_ratio=2.0,
                              num_classes=4).eval()
    work_dir = str(tmp_path / 'work')
    result = clamp_mm.quantize_model(
        model, dict(weight_bits=4, act_bits=8),
        generator=dict(type='clamp_mm.ClampGenerator', iterations=2,
                       warmup_iterations=1, batch_size=4, progress=False),
        calibrator=None, num_images=4, work_dir=work_dir, report=True)
    text = open(osp.join(work_dir, REPORT_FILE)).read()
    assert all(f'## {title}\n' in text for title in SECTION_TITLES)
    assert 'No metrics: the model was quantized without an' in text
    run_data = json.load(open(osp.join(work_dir, RUN_DATA_FILE)))
    assert len(run_data['loss_log']) == 2  # the generator's two steps
    assert run_data['stage_seconds'] == pytest.approx(result.stage_seconds)
    assert run_data['sensitivity'][-1]['layer'] == '(all layers)'
    results = json.load(open(osp.join(work_dir, RESULTS_FILE)))
    assert results['cost'] == result.cost
    # Without report=True nothing but the images cache is written.
    other = str(tmp_path / 'other')
    clamp_mm.quantize_model(
        model.__class__(img_size=16, patch_size=4, embed_dim=16, depth=2,
                        num_heads=2, mlp_ratio=2.0, num_classes=4).eval(),
        generator=dict(type='clamp_mm.ClampGenerator', iterations=1,
                       warmup_iterations=0, batch_size=4, progress=False),
        calibrator=None, num_images=4, work_dir=other)
    assert not osp.exists(osp.join(other, REPORT_FILE))
