"""Fault injection: the promises of issue 16 proved in one place (slow).

On the tiny task through tools/quantize.py, each run in a forked child:
kill -9 at random points of generation, search and saving, each followed
by a rerun that must give the byte-identical model of an uninterrupted
run; a full disk at each atomic write; a read-only work dir; a corrupted
search state; search state from another recipe, model and seed. Every
fault must end in the uninterrupted model after a rerun, or in one
``quantize.py: error:`` line with exit status 2 and nothing lost.
"""
import json
import os
import os.path as osp
import random
import shutil
import subprocess
import sys

import pytest
import torch

HERE = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, osp.join(REPO, 'tests', 'test_engine'))

import tiny_task  # noqa: E402
from fault_runner import run_with_fault  # noqa: E402

pytestmark = pytest.mark.slow
torch.set_num_threads(1)

#: Long enough a generation to kill it at 5 distinct steps.
OPTIONS = ['test_cfg.generator.iterations=12']
POINTS_PER_PHASE = 5
RANDOM_SEED = 16


def record(tmp_path_factory, entry: dict) -> None:
    """Append an outcome to the session's fault report (printed at the end
    of each test; README's reliability section sums them)."""
    path = tmp_path_factory.getbasetemp() / 'fault_report.jsonl'
    with open(path, 'a') as file:
        file.write(json.dumps(entry) + '\n')
    print('FAULT', json.dumps(entry))


@pytest.fixture(scope='module')
def tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'quantize_tool_faults', osp.join(REPO, 'tools', 'quantize.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def task(tmp_path_factory, tool):
    folder = tmp_path_factory.mktemp('fault_task')
    checkpoint, label_file = tiny_task.write_float_checkpoint(str(folder))
    other_checkpoint = osp.join(str(folder), 'other', 'tiny_float.pth')
    os.makedirs(osp.dirname(other_checkpoint))
    tiny_task.write_float_checkpoint(osp.dirname(other_checkpoint), seed=1)
    config = tiny_task.write_config_file(str(folder), label_file)
    task = dict(folder=str(folder), config=config, checkpoint=checkpoint,
                other_checkpoint=other_checkpoint)
    reference = osp.join(str(folder), 'reference')
    how, code, stderr, counts = run_with_fault(
        tool, argv(task, reference), dict(kind='count'),
        osp.join(reference + '_log'))
    assert (how, code) == ('exit', 0), stderr[-3000:]
    task.update(reference=reference, counts=counts)
    return task


def argv(task, work_dir, *options, checkpoint=None, extra=()):
    return [task['config'], checkpoint or task['checkpoint'], '--work-dir',
            work_dir, *extra, '--cfg-options', *OPTIONS, *options]


def model_bytes(work_dir) -> bytes:
    with open(osp.join(work_dir, 'quantized_model.pth'), 'rb') as file:
        return file.read()


def assert_same_model(work_dir, reference) -> None:
    got = torch.load(osp.join(work_dir, 'quantized_model.pth'),
                     weights_only=True)
    want = torch.load(osp.join(reference, 'quantized_model.pth'),
                      weights_only=True)
    assert got['bits'] == want['bits'] and got['recipe'] == want['recipe']
    assert got['state_dict'].keys() == want['state_dict'].keys()
    for key, tensor in want['state_dict'].items():
        assert torch.equal(got['state_dict'][key], tensor), key
    assert model_bytes(work_dir) == model_bytes(reference)


def leftovers(work_dir):
    return [osp.join(root, name) for root, _, names in os.walk(work_dir)
            for name in names if '.tmp' in name]


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines()
             if line.startswith('quantize.py: error:')]
    assert len(lines) == 1, stderr[-3000:]
    assert 'Traceback' not in stderr, stderr[-3000:]
    return lines[0]


def points(task, phase):
    counts = task['counts']
    last = dict(generation=counts['first_search_after'],
                search=counts['search'], save=counts['save'])[phase]
    assert last >= POINTS_PER_PHASE, (phase, counts)
    return sorted(random.Random(f'{RANDOM_SEED}{phase}').sample(
        range(1, last + 1), POINTS_PER_PHASE))


@pytest.mark.parametrize('phase', ['generation', 'search', 'save'])
def test_kill_then_rerun_gives_the_uninterrupted_model(
        tool, task, tmp_path, tmp_path_factory, phase):
    for number, index in enumerate(points(task, phase)):
        work_dir = str(tmp_path / f'{phase}_{index}')
        fault = dict(kind='kill', at=phase, index=index,
                     save_mode=('partial', 'unrenamed')[number % 2])
        how, code, stderr, _ = run_with_fault(tool, argv(task, work_dir),
                                              fault, work_dir + '_log')
        assert (how, code) == ('killed', 9), stderr[-3000:]
        how, code, stderr, _ = run_with_fault(tool, argv(task, work_dir),
                                              dict(kind='count'),
                                              work_dir + '_log')
        assert (how, code) == ('exit', 0), stderr[-3000:]
        assert_same_model(work_dir, task['reference'])
        assert leftovers(work_dir) == []
        record(tmp_path_factory, dict(fault=f'kill -9 in {phase}',
                                      index=index, outcome='survived'))


def test_full_disk_at_each_write(tool, task, tmp_path, tmp_path_factory,
                                 fill_disk):
    disk = tmp_path / 'disk'
    disk.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4m',
                              'tmpfs', str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip('cannot mount a tmpfs here')
    try:
        for index in range(1, task['counts']['save'] + 1):
            work_dir = str(disk / f'write_{index}')
            how, code, stderr, _ = run_with_fault(
                tool, argv(task, work_dir),
                dict(kind='fill_disk', at='save', index=index),
                str(tmp_path / f'log_{index}'), lambda: fill_disk(disk))
            assert (how, code) == ('exit', 2), stderr[-3000:]
            line = one_error_line(stderr)
            assert 'no space left on device' in line and 'free' in line
            assert leftovers(work_dir) == []
            os.remove(disk / 'filler.bin')
            how, code, stderr, _ = run_with_fault(
                tool, argv(task, work_dir), dict(kind='count'),
                str(tmp_path / f'log_{index}'))
            assert (how, code) == ('exit', 0), stderr[-3000:]
            assert_same_model(work_dir, task['reference'])
            shutil.rmtree(work_dir)
            record(tmp_path_factory, dict(fault='disk full', index=index,
                                          outcome='one line, exit 2, '
                                          'rerun identical'))
    finally:
        subprocess.run(['umount', '-l', str(disk)], capture_output=True)


def test_read_only_work_dir(tool, task, tmp_path, tmp_path_factory):
    disk = tmp_path / 'disk'
    disk.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4m',
                              'tmpfs', str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip('cannot mount a tmpfs here')
    try:
        work_dir = str(disk / 'work')
        how, code, stderr, _ = run_with_fault(
            tool, argv(task, work_dir), dict(kind='count'),
            str(tmp_path / 'log'))
        assert (how, code) == ('exit', 0), stderr[-3000:]
        before = {path: open(path, 'rb').read()
                  for path in (osp.join(root, name)
                               for root, _, names in os.walk(work_dir)
                               for name in names)}
        subprocess.run(['mount', '-o', 'remount,ro', str(disk)], check=True)
        for options in ([], ['test_cfg.recipe.act_bits=4']):
            how, code, stderr, _ = run_with_fault(
                tool, argv(task, work_dir, *options), dict(kind='count'),
                str(tmp_path / 'log'))
            assert (how, code) == ('exit', 2), stderr[-3000:]
            line = one_error_line(stderr)
            assert 'not writable' in line or 'other settings' in line, line
            record(tmp_path_factory, dict(
                fault='read-only work dir', options=options,
                outcome='one line, exit 2: ' + (
                    'not writable' if 'not writable' in line else
                    'other settings')))
        after = {path: open(path, 'rb').read() for path in before}
        assert after == before
    finally:
        subprocess.run(['umount', '-l', str(disk)], capture_output=True)


def killed_mid_search(tool, task, work_dir, *options, checkpoint=None):
    """A work dir holding search state: killed after the first visit."""
    index = task['counts']['search'] - 1
    how, code, stderr, _ = run_with_fault(
        tool, argv(task, work_dir, *options, checkpoint=checkpoint),
        dict(kind='kill', at='search', index=index), work_dir + '_log')
    assert (how, code) == ('killed', 9), stderr[-3000:]
    assert osp.isfile(osp.join(work_dir, 'search', 'search_state.pth'))


def test_corrupted_state_file(tool, task, tmp_path, tmp_path_factory):
    work_dir = str(tmp_path / 'work')
    killed_mid_search(tool, task, work_dir)
    state = osp.join(work_dir, 'search', 'search_state.pth')
    data = bytearray(open(state, 'rb').read())
    data[len(data) // 3:len(data) // 3 + 64] = b'\xff' * 64
    with open(state, 'wb') as file:
        file.write(bytes(data[:len(data) * 2 // 3]))
    how, code, stderr, _ = run_with_fault(tool, argv(task, work_dir),
                                          dict(kind='count'),
                                          work_dir + '_log')
    assert (how, code) == ('exit', 2), stderr[-3000:]
    line = one_error_line(stderr)
    assert 'corrupt or truncated' in line and '--restart' in line
    how, code, stderr, _ = run_with_fault(
        tool, argv(task, work_dir, extra=['--restart']), dict(kind='count'),
        work_dir + '_log')
    assert (how, code) == ('exit', 0), stderr[-3000:]
    assert_same_model(work_dir, task['reference'])
    record(tmp_path_factory, dict(fault='corrupted search state',
                                  outcome='one line, exit 2; --restart '
                                  'identical'))


@pytest.mark.parametrize('other,expected', [
    ('recipe', 'recipe.act_bits: 4 then, 8 now'),
    ('model', 'checkpoint_sha256'),
    ('seed', 'run_seed: 7 then, 123 now'),
    ('no fingerprint', 'run_state.json missing'),
])
def test_state_of_another_run_is_refused(tool, task, tmp_path,
                                         tmp_path_factory, other, expected):
    work_dir = str(tmp_path / 'work')
    if other == 'recipe':
        killed_mid_search(tool, task, work_dir, 'test_cfg.recipe.act_bits=4')
    elif other == 'model':
        killed_mid_search(tool, task, work_dir,
                          checkpoint=task['other_checkpoint'])
    elif other == 'seed':
        killed_mid_search(tool, task, work_dir, 'randomness.seed=7')
    else:
        killed_mid_search(tool, task, work_dir)
        os.remove(osp.join(work_dir, 'run_state.json'))
    before = sorted(os.listdir(work_dir))
    how, code, stderr, _ = run_with_fault(tool, argv(task, work_dir),
                                          dict(kind='count'),
                                          work_dir + '_log')
    assert (how, code) == ('exit', 2), stderr[-3000:]
    line = one_error_line(stderr)
    assert expected in line and '--restart' in line, line
    assert sorted(os.listdir(work_dir)) == before
    outcome = 'one line, exit 2, nothing changed'
    if other == 'recipe':  # --restart itself is proved once
        how, code, stderr, _ = run_with_fault(
            tool, argv(task, work_dir, extra=['--restart']),
            dict(kind='count'), work_dir + '_log')
        assert (how, code) == ('exit', 0), stderr[-3000:]
        assert_same_model(work_dir, task['reference'])
        outcome += '; --restart identical'
    record(tmp_path_factory, dict(fault=f'search state of another {other}',
                                  outcome=outcome))
