"""The run report of tools/quantize.py, and tools/analyze_quant.py, on the
tiny task (a 2-block ViT, 16 test images: seconds)."""
import glob
import importlib.util
import json
import os
import os.path as osp
import shutil
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tests', 'test_engine'))

import tiny_task  # noqa: E402

from clamp_mm.report import (REPORT_FILE, RESULTS_FILE, RUN_DATA_FILE,
                             SECTION_TITLES)  # noqa: E402
from clamp_mm.report.markdown import format_number  # noqa: E402

torch.set_num_threads(1)


def load_tool(name):
    spec = importlib.util.spec_from_file_location(
        f'{name}_tool', osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_quantize(folder, extra_config: str = '', name: str = 'work'):
    checkpoint, label_file = tiny_task.write_float_checkpoint(str(folder))
    config = tiny_task.write_config_file(str(folder), label_file)
    if extra_config:
        with open(config, 'a') as file:
            file.write(extra_config)
    work_dir = str(folder / name)
    load_tool('quantize').main(
        [config, checkpoint, '--work-dir', work_dir, '--fp'])
    return work_dir


@pytest.fixture(scope='module')
def work_dir(tmp_path_factory):
    return run_quantize(tmp_path_factory.mktemp('report_run'))


def read(path):
    with open(path) as file:
        return file.read()


def table_after(text: str, title: str):
    """Rows (lists of cells) of the first table under section ``title``."""
    section = text.split(f'## {title}\n', 1)[1].split('\n## ', 1)[0]
    rows = [line for line in section.splitlines() if line.startswith('|')]
    return [[cell.strip() for cell in row.strip('|').split('|')]
            for row in rows[2:]]


def test_report_written_with_every_section(work_dir):
    text = read(osp.join(work_dir, REPORT_FILE))
    for title in SECTION_TITLES:
        assert f'## {title}\n' in text
    # Every figure is linked relative to the work dir, and exists.
    links = [line[line.index('](') + 2:-1] for line in text.splitlines()
             if line.startswith('![')]
    assert {osp.basename(link) for link in links} == {
        'synthetic_images.png', 'stage1_losses.png', 'patch_similarity.png',
        'search_fitness.png', 'bit_map.png', 'sensitivity.png'}
    for link in links:
        assert not osp.isabs(link) and osp.isfile(osp.join(work_dir, link))


def test_report_numbers_equal_the_results_json(work_dir):
    results = json.loads(read(osp.join(work_dir, RESULTS_FILE)))
    text = read(osp.join(work_dir, REPORT_FILE))
    rows = {row[0]: row for row in table_after(text,
                                               'Metrics: FP vs quantized')}
    assert set(rows) == set(results['quantized'])
    for key, value in results['quantized'].items():
        fp = results['fp'][key]
        assert rows[key][1:] == [format_number(fp), format_number(value),
                                 f'{value - fp:+.4f}']
    cost = {row[0]: row for row in table_after(text, 'Model size and BOPs')}
    assert cost['size (MB)'][1:3] == [
        format_number(results['cost']['float_size_mb']),
        format_number(results['cost']['size_mb'])]
    height, width = results['cost']['resolution']
    assert cost[f'BOPs per {height}x{width} image (G)'][2] == format_number(
        results['cost']['gbops'])


def test_sensitivity_table_has_one_row_per_quantized_layer(work_dir):
    # The search's own record of every quantizer it searched.
    with open(osp.join(work_dir, 'search', 'search_result.json')) as file:
        quantizers = json.load(file)['bits']
    layers = {name.rpartition('.')[0] for name in quantizers}
    rows = table_after(read(osp.join(work_dir, REPORT_FILE)),
                       'Per-layer sensitivity')
    assert [row[0] for row in rows[:-1]] and {
        row[0] for row in rows[:-1]} == layers
    assert len(rows) == len(layers) + 1 and rows[-1][0] == '(all layers)'
    run_data = json.loads(read(osp.join(work_dir, RUN_DATA_FILE)))
    assert run_data['sensitivity_cost']['images'] == 4
    assert run_data['sensitivity_cost']['forwards'] == len(layers) + 2


def test_stage_times_and_densities_recorded(work_dir):
    run_data = json.loads(read(osp.join(work_dir, RUN_DATA_FILE)))
    stages = run_data['stage_seconds']
    assert list(stages) == [
        'FP evaluation', 'synthesis (stage 1)',
        'calibration and search (stage 2)',
        'report analysis (sensitivity, densities)', 'model cost and summary',
        'quantized evaluation', 'total']
    assert all(seconds >= 0 for seconds in stages.values())
    parts = sum(v for k, v in stages.items() if k != 'total')
    assert parts <= stages['total'] + 1e-6
    # Synthetic, the first test batch (16 real images) and noise.
    assert run_data['patch_similarity']['num_images'] == {
        'synthetic': 4, 'real': 8, 'gaussian noise': 4}


def test_visualizer_scalars(work_dir):
    results = json.loads(read(osp.join(work_dir, RESULTS_FILE)))
    run_data = json.loads(read(osp.join(work_dir, RUN_DATA_FILE)))
    files = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(files) == 1
    lines = [json.loads(line) for line in read(files[0]).splitlines()]
    stage1 = [line['stage1/total'] for line in lines
              if 'stage1/total' in line]
    assert stage1 == [entry['total'] for entry in run_data['loss_log']]
    assert len(stage1) == 2  # 2 iterations, one batch of 4 images
    fitness = [line['search/best_fitness'] for line in lines
               if 'search/best_fitness' in line]
    assert fitness == [entry['best']
                       for entry in run_data['search']['history']]
    final = next(line for line in lines if 'final/tiny/top1' in line)
    assert final['final/tiny/top1'] == results['quantized']['tiny/top1']
    assert final['final/fp/tiny/top1'] == results['fp']['tiny/top1']


def test_analyze_quant_redraws_the_same_report(work_dir, tmp_path):
    copy = str(tmp_path / 'moved')
    shutil.copytree(work_dir, copy)
    original = read(osp.join(copy, REPORT_FILE))
    os.remove(osp.join(copy, REPORT_FILE))
    os.remove(osp.join(copy, 'report', 'bit_map.png'))
    assert load_tool('analyze_quant').main([copy]) == osp.join(
        copy, REPORT_FILE)
    # Same report, but for the folder's new name in the title.
    assert read(osp.join(copy, REPORT_FILE)) == original.replace(
        '(work)', '(moved)', 1)
    assert osp.isfile(osp.join(copy, 'report', 'bit_map.png'))


def test_analyze_quant_compares_two_runs(work_dir, tmp_path):
    other = str(tmp_path / 'other')
    shutil.copytree(work_dir, other)
    out = str(tmp_path / 'cmp' / 'a_vs_b.md')
    load_tool('analyze_quant').main([work_dir, other, '--out', out])
    text = read(out)
    results = json.loads(read(osp.join(work_dir, RESULTS_FILE)))
    row = next(r for r in table_after(text, 'Metrics')
               if r[0] == 'quantized tiny/top1')
    assert row[1:] == [format_number(results['quantized']['tiny/top1'])] * 2
    figures = table_after(text, 'Figures')
    assert [r[0] for r in figures][0] == 'synthetic_images'
    for cell in figures[0][1:]:
        link = cell[cell.index('](') + 2:-1]
        assert osp.isfile(osp.join(osp.dirname(out), link))


def not_finished(folder):
    """Work dirs that are not finished runs, and the error each gives."""
    (folder / 'empty').mkdir()
    (folder / 'unfinished').mkdir()
    (folder / 'unfinished' / RESULTS_FILE).write_text(
        json.dumps(dict(quantized=None, fp=None)))
    (folder / 'broken').mkdir()
    (folder / 'broken' / RESULTS_FILE).write_text('{not json')
    return {
        str(folder / 'nowhere'): 'is not a folder',
        str(folder / 'empty'): f'it has no {RESULTS_FILE}',
        str(folder / 'unfinished'): 'holds no quantized metrics',
        str(folder / 'broken'): f'cannot read {RESULTS_FILE}',
    }


def test_a_work_dir_that_is_not_a_finished_run_is_one_line(
        work_dir, tmp_path, capsys):
    tool = load_tool('analyze_quant')
    for folder, message in not_finished(tmp_path).items():
        before = sorted(os.listdir(tmp_path))
        with pytest.raises(SystemExit) as exit_info:
            tool.main([work_dir, folder, '--out',
                       str(tmp_path / 'cmp.md')])
        assert exit_info.value.code == 2
        errors = capsys.readouterr().err.strip().splitlines()
        assert len(errors) == 1 and message in errors[0]
        assert folder in errors[0]
        assert sorted(os.listdir(tmp_path)) == before
        if osp.isdir(folder):
            assert not osp.exists(osp.join(folder, REPORT_FILE))


def test_tensorboard_backend_in_a_run(tmp_path):
    pytest.importorskip('tensorboard')
    work_dir = run_quantize(
        tmp_path, "\nvisualizer = dict(type='Visualizer', vis_backends=["
        "dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])"
        "\n")
    events = glob.glob(osp.join(work_dir, '*', 'vis_data', '**',
                                'events.out.tfevents.*'), recursive=True)
    assert events and all(osp.getsize(path) > 0 for path in events)
    assert osp.isfile(osp.join(work_dir, REPORT_FILE))


def test_no_report_flag(tmp_path):
    checkpoint, label_file = tiny_task.write_float_checkpoint(str(tmp_path))
    config = tiny_task.write_config_file(
        str(tmp_path), label_file, calibrator=None)
    work_dir = str(tmp_path / 'work')
    load_tool('quantize').main(
        [config, checkpoint, '--work-dir', work_dir, '--no-report'])
    assert osp.isfile(osp.join(work_dir, RESULTS_FILE))
    assert not osp.exists(osp.join(work_dir, REPORT_FILE))
    assert not osp.exists(osp.join(work_dir, RUN_DATA_FILE))
    # The report can still be drawn afterwards, from the results alone.
    load_tool('analyze_quant').main([work_dir])
    text = read(osp.join(work_dir, REPORT_FILE))
    assert all(f'## {title}\n' in text for title in SECTION_TITLES)
    assert 'No search in this run' in text
    assert 'Not measured in this run.' in text  # no sensitivity
