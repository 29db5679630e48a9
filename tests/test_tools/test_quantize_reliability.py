"""tools/quantize.py keeps its promises on the tiny task (issue 16): a rerun
never reports a model it did not make, every seed set takes effect, and
bad input ends in one line with exit status 2, the work dir untouched."""
import importlib.util
import os
import os.path as osp
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tests', 'test_engine'))

import tiny_task  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'quantize_tool_reliability', osp.join(REPO, 'tools', 'quantize.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def task(tmp_path):
    checkpoint, label_file = tiny_task.write_float_checkpoint(str(tmp_path))
    config = tiny_task.write_config_file(str(tmp_path), label_file)
    return dict(config=config, checkpoint=checkpoint,
                label_file=label_file, work_dir=str(tmp_path / 'work'))


def run_ok(tool, task, *options, work_dir=None, extra=()):
    argv = [task['config'], task['checkpoint'], '--work-dir',
            work_dir or task['work_dir'], *extra]
    if options:
        argv += ['--cfg-options', *options]
    return tool.main(argv)


def run_failing(tool, capsys, argv):
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        tool.main(argv)
    assert exit_info.value.code == tool.EXIT_BAD_INPUT
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith('quantize.py: error:')]
    assert len(errors) == 1, errors
    return errors[0]


def saved_model(work_dir):
    return torch.load(osp.join(work_dir, 'quantized_model.pth'),
                      weights_only=True)


def snapshot(folder):
    found = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = osp.join(root, name)
            with open(path, 'rb') as file:
                found[osp.relpath(path, folder)] = file.read()
    return found


def same_model(first, second):
    return first['bits'] == second['bits'] and all(
        torch.equal(first['state_dict'][key], second['state_dict'][key])
        for key in first['state_dict'])


def test_changed_recipe_in_a_used_work_dir_stops_then_restart_is_fresh(
        tool, task, tmp_path, capsys):
    run_ok(tool, task)
    before = snapshot(task['work_dir'])
    error = run_failing(tool, capsys, [
        task['config'], task['checkpoint'], '--work-dir', task['work_dir'],
        '--cfg-options', 'test_cfg.recipe.act_bits=4'])
    assert 'recipe.act_bits: 8 then, 4 now' in error
    assert '--restart' in error and '--work-dir' in error
    # Stopped before the Runner: not even the config copy changed.
    assert snapshot(task['work_dir']) == before

    # --restart gives exactly what a fresh work dir gives.
    run_ok(tool, task, 'test_cfg.recipe.act_bits=4', extra=['--restart'])
    run_ok(tool, task, 'test_cfg.recipe.act_bits=4',
           work_dir=str(tmp_path / 'fresh'))
    restarted = saved_model(task['work_dir'])
    assert same_model(restarted, saved_model(str(tmp_path / 'fresh')))
    # Every quantizer at 4 bits but the image (8 bits by default).
    assert {name: bits for name, bits in restarted['bits'].items()
            if bits != 4} == {'classifier.patch_embed.proj.input_quantizer': 8}


def test_changed_search_seed_is_one_line_not_a_traceback(tool, task, capsys):
    run_ok(tool, task)
    error = run_failing(tool, capsys, [
        task['config'], task['checkpoint'], '--work-dir', task['work_dir'],
        '--cfg-options', 'test_cfg.calibrator.seed=5'])
    # The tiny config's randomness.seed=123 seeded the first search.
    assert 'search.seed: 123 then, 5 now' in error
    assert len(error) < 400


def test_randomness_seed_drives_generator_and_search(tool, task, tmp_path):
    run_ok(tool, task, 'randomness.seed=1', work_dir=str(tmp_path / 's1'))
    run_ok(tool, task, 'randomness.seed=2', work_dir=str(tmp_path / 's2'))
    # A component's own seed wins over the run seed.
    run_ok(tool, task, 'randomness.seed=2', 'test_cfg.generator.seed=1',
           'test_cfg.calibrator.seed=1', work_dir=str(tmp_path / 'own'))
    run_ok(tool, task, 'randomness.seed=1', work_dir=str(tmp_path / 's1b'))
    images = {
        name: torch.load(tmp_path / name / 'synthetic_images.pth',
                         weights_only=True)
        for name in ('s1', 's2', 'own', 's1b')
    }
    assert images['s1']['metadata']['seeds'] == [1]
    assert not torch.equal(images['s1']['images'], images['s2']['images'])
    assert torch.equal(images['s1']['images'], images['own']['images'])
    assert torch.equal(images['s1']['images'], images['s1b']['images'])
    assert not same_model(saved_model(str(tmp_path / 's1')),
                          saved_model(str(tmp_path / 's2')))
    assert same_model(saved_model(str(tmp_path / 's1')),
                      saved_model(str(tmp_path / 'own')))


def test_overrides_from_the_command_line(tool, task):
    run_ok(tool, task,
           "test_cfg.recipe.overrides={'blocks.1.*': dict(weight_bits=8)}")
    bits = saved_model(task['work_dir'])['bits']
    overridden = {name: value for name, value in bits.items()
                  if name.startswith('classifier.blocks.1.')
                  and name.endswith('weight_quantizer')}
    assert overridden and set(overridden.values()) == {8}
    assert bits['classifier.blocks.0.attn.qkv.weight_quantizer'] == 4


def test_override_matching_nothing_stops_before_anything_runs(
        tool, task, capsys):
    config = tiny_task.write_config_file(
        osp.dirname(task['config']), task['label_file'],
        recipe=dict(weight_bits=4, act_bits=8,
                    overrides={'blocks.99.*': dict(weight_bits=8)}))
    error = run_failing(tool, capsys, [config, task['checkpoint'],
                                       '--work-dir', task['work_dir']])
    assert "overrides['blocks.99.*']" in error and 'matches no' in error
    assert os.listdir(task['work_dir']) == []


def test_bad_overrides_text_is_named(tool, task, capsys):
    error = run_failing(tool, capsys, [
        task['config'], task['checkpoint'], '--work-dir', task['work_dir'],
        '--cfg-options', 'test_cfg.recipe.overrides=blocks.1'])
    assert "overrides is 'blocks.1', expected a dict of module-name" in error


def test_nan_weight_is_named_before_anything_runs(tool, task, tmp_path,
                                                  capsys):
    checkpoint = torch.load(task['checkpoint'], weights_only=True)
    checkpoint['state_dict']['classifier.blocks.1.mlp.fc2.weight'][0, 3] = \
        float('nan')
    bad = str(tmp_path / 'nan.pth')
    torch.save(checkpoint, bad)
    error = run_failing(tool, capsys,
                        [task['config'], bad, '--work-dir', task['work_dir']])
    assert 'classifier.blocks.1.mlp.fc2.weight' in error
    assert '1 NaN' in error


@pytest.mark.parametrize('damage', ['truncated', 'other architecture'])
def test_bad_quantized_file_is_one_line(tool, task, tmp_path, capsys,
                                        damage):
    run_ok(tool, task)
    path = osp.join(task['work_dir'], 'quantized_model.pth')
    if damage == 'truncated':
        data = open(path, 'rb').read()
        path = str(tmp_path / 'truncated.pth')
        with open(path, 'wb') as file:
            file.write(data[:len(data) // 2])
        expected = 'truncated'
    else:
        content = torch.load(path, weights_only=True)
        content['state_dict']['classifier.head.weight'] = torch.zeros(7, 16)
        content['state_dict']['classifier.head.bias'] = torch.zeros(7)
        path = str(tmp_path / 'other.pth')
        torch.save(content, path)
        expected = 'does not fit TinyViTClassifier'
    error = run_failing(tool, capsys, [
        task['config'], '--load-quantized', path, '--work-dir',
        str(tmp_path / 'reload')])
    assert expected in error


def test_full_disk_is_refused_before_the_run(tool, task, small_disk,
                                             capsys):
    error = run_failing(tool, capsys, [
        task['config'], task['checkpoint'], '--work-dir',
        str(small_disk / 'work')])
    assert 'not enough space' in error and 'free' in error
    assert [name for name in os.listdir(small_disk / 'work')] == []
