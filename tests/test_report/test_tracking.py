"""Stage-1 losses, search fitness and final metrics through mmengine's
Visualizer (LocalVisBackend always, TensorboardVisBackend when installed)."""
import glob
import json
import os.path as osp

import pytest

from clamp_mm.report import (final_scalars, log_final_metrics,
                             log_search_fitness, log_stage1_losses)

LOSS_LOG = [
    dict(batch=0, round=0, iteration=step, lr=0.1 * step, seconds=0.01,
         patch_contrastive=1.0 / (step + 1), total_variation=0.5,
         total=1.0 / (step + 1) + 0.5) for step in range(3)
]
HISTORY = [
    dict(visit=0, pass_index=0, block='blocks.1', cycle=cycle,
         best=2.0 - cycle, mean=2.5 - cycle, rejected=0, refreshed=False)
    for cycle in range(2)
]


def visualizer(tmp_path, backends):
    from mmengine.visualization import Visualizer
    return Visualizer(name=f'report_test_{tmp_path.name}_{len(backends)}',
                      vis_backends=backends, save_dir=str(tmp_path))


def read_scalars(tmp_path):
    with open(tmp_path / 'vis_data' / 'scalars.json') as file:
        return [json.loads(line) for line in file]


def test_local_backend_receives_every_step(tmp_path):
    target = visualizer(tmp_path, [dict(type='LocalVisBackend')])
    assert log_stage1_losses(target, LOSS_LOG) == 3
    assert log_search_fitness(target, HISTORY) == 2
    sent = log_final_metrics(target, {'top1': 85.5, 'note': 'x'},
                             {'top1': 86.0}, {'size_mb': 0.1})
    assert sent == {'final/top1': 85.5, 'final/fp/top1': 86.0,
                    'final/cost/size_mb': 0.1}
    lines = read_scalars(tmp_path)
    stage1 = [line for line in lines if 'stage1/total' in line]
    assert [line['step'] for line in stage1] == [0, 1, 2]
    assert [line['stage1/total'] for line in stage1] == [
        entry['total'] for entry in LOSS_LOG]
    assert [line['stage1/patch_contrastive'] for line in stage1] == [
        entry['patch_contrastive'] for entry in LOSS_LOG]
    assert all('stage1/batch' not in line for line in stage1)
    search = [line for line in lines if 'search/best_fitness' in line]
    assert [line['search/best_fitness'] for line in search] == [2.0, 1.0]
    assert [line['search/best_fitness/blocks.1'] for line in search] == [
        2.0, 1.0]
    assert lines[-1]['final/fp/top1'] == 86.0


def test_final_scalars_skip_non_numbers():
    assert final_scalars({'a': 1, 'b': True, 'c': 'x'}, None,
                         {'resolution': [32, 32], 'gbops': 0.5}) == {
                             'final/a': 1.0, 'final/cost/gbops': 0.5}


def test_tensorboard_backend_writes_event_files(tmp_path):
    pytest.importorskip('tensorboard')
    target = visualizer(tmp_path, [dict(type='TensorboardVisBackend')])
    log_stage1_losses(target, LOSS_LOG)
    log_search_fitness(target, HISTORY)
    target.close()
    events = glob.glob(osp.join(tmp_path, 'vis_data', '**',
                                'events.out.tfevents.*'), recursive=True)
    assert events and all(osp.getsize(path) > 0 for path in events)
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    accumulator = EventAccumulator(osp.dirname(events[0]))
    accumulator.Reload()
    values = [event.value for event in accumulator.Scalars('stage1/total')]
    assert values == pytest.approx([entry['total'] for entry in LOSS_LOG])
