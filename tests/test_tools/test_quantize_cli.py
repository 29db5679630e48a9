"""tools/quantize.py and tools/dist_quantize.sh on the tiny task."""
import importlib.util
import os
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_TASK_DIR = osp.join(REPO, 'tests', 'test_engine')
sys.path.insert(0, TINY_TASK_DIR)

import tiny_task  # noqa: E402

torch.set_num_threads(1)


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'quantize_tool', osp.join(REPO, 'tools', 'quantize.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tool():
    return load_tool()


@pytest.fixture
def task(tmp_path):
    checkpoint, label_file = tiny_task.write_float_checkpoint(str(tmp_path))
    config = tiny_task.write_config_file(str(tmp_path), label_file)
    work_dir = tmp_path / 'work'
    # What an earlier run left: bad input must not touch it.
    work_dir.mkdir()
    (work_dir / 'quantized_model.pth').write_bytes(b'earlier result')
    return dict(config=config, checkpoint=checkpoint, work_dir=str(work_dir))


def snapshot(folder: str) -> dict:
    return {
        name: open(osp.join(folder, name), 'rb').read()
        for name in sorted(os.listdir(folder))
    }


def test_runs_and_prints_fp_beside_quantized(tool, task, tmp_path, capsys):
    out = str(tmp_path / 'predictions.pkl')
    metrics = tool.main([
        task['config'], task['checkpoint'], '--work-dir', task['work_dir'],
        '--fp', '--out', out
    ])
    assert metrics['fp/tiny/top1'] == 1.0
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines()
                  if line.startswith('metric'))
    assert [cell.strip() for cell in header.split(' | ')] == [
        'metric', 'FP', 'W4/A8', 'delta'
    ]
    assert f'{metrics["tiny/top1"]:.4f}' in printed
    # --out appended mmengine's DumpResults: the quantized pass (the last
    # one) wrote one prediction per test image.
    with open(out, 'rb') as file:
        predictions = pickle.load(file)
    assert len(predictions) == tiny_task.NUM_TEST_IMAGES
    saved = torch.load(
        osp.join(task['work_dir'], 'quantized_model.pth'), weights_only=True)
    assert saved['kind'] == 'clamp_mm.quantized_model'

    # --load-quantized evaluates the saved model: same metric, no checkpoint.
    reloaded = tool.main([
        task['config'], '--work-dir',
        str(tmp_path / 'reload'), '--load-quantized',
        osp.join(task['work_dir'], 'quantized_model.pth')
    ])
    assert reloaded['tiny/top1'] == metrics['tiny/top1']


def wrong_architecture_checkpoint(tmp_path) -> str:
    model = tiny_task.TinyViTClassifier()
    model.classifier.reset_classifier(tiny_task.NUM_CLASSES + 3)
    path = str(tmp_path / 'other_arch.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return path


BAD_INPUTS = {
    'missing config': (lambda t, p: ['nothere.py', t['checkpoint']],
                       'config file nothere.py does not exist'),
    'missing checkpoint': (lambda t, p: [t['config'], 'nothere.pth'],
                           'checkpoint nothere.pth does not exist'),
    'bad bits': (lambda t, p: [
        t['config'], t['checkpoint'], '--cfg-options',
        'test_cfg.recipe.act_bits=12'
    ], 'act_bits must be an int in 2..8, got 12'),
    'unknown preset': (lambda t, p: [
        t['config'], t['checkpoint'], '--cfg-options',
        'test_cfg.recipe.preset=best'
    ], "preset must be one of ['clamp_data_free', 'clamp_data_free_linear', "
       "'clamp_full', 'clamp_linear', 'fq_vit'"),
    'unknown protocol': (lambda t, p: [
        t['config'], t['checkpoint'], '--cfg-options',
        'test_cfg.recipe.protocol=half'
    ], "protocol must be one of ['full', 'linear'], got 'half"),
    'quantizer type at a point it does not fit': (lambda t, p: [
        t['config'], t['checkpoint'], '--cfg-options',
        'test_cfg.recipe.point_quantizers.q=log2'
    ], "point_quantizers['q'] must be one of ['uniform'], got 'log2"),
    'unknown quant point': (lambda t, p: [
        t['config'], t['checkpoint'], '--cfg-options',
        'test_cfg.recipe.point_quantizers.gelu=twin_uniform'
    ], "point_quantizers key must be one of"),
    'unknown observer': (lambda t, p: [
        t['config'], t['checkpoint'], '--cfg-options',
        'test_cfg.recipe.act_observer=kl'
    ], "act_observer must be one of ['minmax', 'omse', 'percentile']"),
    'unknown clamp_mm type': (lambda t, p: [
        t['config'], t['checkpoint'], '--cfg-options',
        'test_cfg.generator.type=clamp_mm.NoSuchGenerator'
    ], 'clamp_mm.NoSuchGenerator is not in the clamp_mm::generator'),
    'unknown fitness': (lambda t, p: [
        t['config'], t['checkpoint'], '--cfg-options',
        'test_cfg.calibrator.fitness=accuracy'
    ], "fitness must be one of ('info_nce'"),
    'negative mutation step': (lambda t, p: [
        t['config'], t['checkpoint'], '--cfg-options',
        'test_cfg.calibrator.mutation_levels=-1.0'
    ], 'mutation_levels must be > 0, got -1.0'),
    'population below 2': (lambda t, p: [
        t['config'], t['checkpoint'], '--cfg-options',
        'test_cfg.calibrator.population_size=1'
    ], 'population_size must be an int >= 2, got 1'),
    'population of 0': (lambda t, p: [
        t['config'], t['checkpoint'], '--cfg-options',
        'test_cfg.calibrator.population_size=0'
    ], 'population_size must be an int >= 2, got 0'),
    'unknown mutation mode': (lambda t, p: [
        t['config'], t['checkpoint'], '--cfg-options',
        'test_cfg.calibrator.mutation_mode=gaussian'
    ], "mutation_mode must be one of ('relative', 'absolute', "
     "'levels'), got 'gaussian"),
    'negative relative mutation range': (lambda t, p: [
        t['config'], t['checkpoint'], '--cfg-options',
        'test_cfg.calibrator.mutation_range_low_bits=-0.001'
    ], 'mutation_range_low_bits must be > 0, got -0.001'),
    'other architecture': (lambda t, p: [
        t['config'], wrong_architecture_checkpoint(p)
    ], 'does not fit TinyViTClassifier'),
    'not a quantized checkpoint': (lambda t, p: [
        t['config'], '--load-quantized', t['checkpoint']
    ], 'is not a clamp_mm quantized checkpoint'),
}


@pytest.mark.parametrize('case', sorted(BAD_INPUTS))
def test_bad_input_one_line_nonzero_exit_work_dir_untouched(
        tool, task, tmp_path, capsys, case):
    make_argv, message = BAD_INPUTS[case]
    before = snapshot(task['work_dir'])
    with pytest.raises(SystemExit) as exit_info:
        tool.main(make_argv(task, tmp_path) + ['--work-dir', task['work_dir']])
    assert exit_info.value.code == tool.EXIT_BAD_INPUT
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith('quantize.py: error:')]
    assert len(errors) == 1 and message in errors[0], errors
    assert snapshot(task['work_dir']) == before


def test_unwritable_work_dir(tool, task, tmp_path, capsys):
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    with pytest.raises(SystemExit) as exit_info:
        tool.main([task['config'], task['checkpoint'], '--work-dir',
                   str(blocker / 'work')])
    assert exit_info.value.code == tool.EXIT_BAD_INPUT
    assert 'is not writable' in capsys.readouterr().err
    assert blocker.read_text() == 'not a folder'


@pytest.mark.slow
def test_dist_quantize_sh_two_cpu_processes(task, tmp_path):
    """torchrun with 2 gloo processes through the shell script."""
    env = dict(os.environ, PYTHON=sys.executable, PORT='29913',
               CLAMP_NUM_THREADS='1',
               PYTHONPATH=TINY_TASK_DIR + os.pathsep + REPO)
    work_dir = str(tmp_path / 'dist')
    completed = subprocess.run([
        'bash', osp.join(REPO, 'tools', 'dist_quantize.sh'), task['config'],
        task['checkpoint'], '2', '--work-dir', work_dir, '--fp'
    ], env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = [line for line in completed.stdout.splitlines()
             if line.startswith('tiny/top1')]
    # Printed once, by rank 0; FP is exact on the gathered 16 images.
    assert len(lines) == 1
    assert lines[0].split(' | ')[1].strip() == '1.0000'
    assert osp.isfile(osp.join(work_dir, 'quantized_model.pth'))
