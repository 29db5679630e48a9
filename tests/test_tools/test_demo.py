"""tools/demo.py: the README's main command, as a smoke test."""
import importlib.util
import os
import os.path as osp

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

torch.set_num_threads(1)
pytest.importorskip('mmpretrain')


def load_demo():
    spec = importlib.util.spec_from_file_location(
        'demo_tool', osp.join(REPO, 'tools', 'demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_missing_checkpoint_is_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_demo().main(['--checkpoint', str(tmp_path / 'none.pth'),
                          '--work-dir', str(tmp_path / 'work')])
    assert exit_info.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and 'does not exist' in errors[0]
    assert not (tmp_path / 'work').exists()


@pytest.mark.slow
@pytest.mark.skipif(not osp.isdir('/usr/share/datasets/fashion-mnist'),
                    reason='dataset-fashion-mnist is not installed')
def test_quick_demo_prints_fp_beside_w4a8(tmp_path, capsys):
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        metrics = load_demo().main([
            '--random-init', '--quick', '--checkpoint',
            str(tmp_path / 'none.pth'), '--work-dir',
            str(tmp_path / 'work'), '--cfg-options',
            'test_dataloader.dataset.indices=64', 'test_cfg.num_images=4',
            'test_cfg.generator.iterations=3'
        ])
    finally:
        os.chdir(cwd)
    assert {'accuracy/top1', 'fp/accuracy/top1'} <= set(metrics)
    printed = capsys.readouterr().out
    assert 'W4/A8' in printed and 'accuracy/top1' in printed
    assert (tmp_path / 'work' / 'quantized_model.pth').is_file()
