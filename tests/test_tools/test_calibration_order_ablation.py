"""tools/calibration_order_ablation.py: bad options exit 2 with one line,
nothing written."""
import importlib.util
import os.path as osp

import pytest

TOOL = osp.join(osp.dirname(osp.dirname(osp.dirname(__file__))), 'tools',
                'calibration_order_ablation.py')


def _tool():
    spec = importlib.util.spec_from_file_location(
        'calibration_order_ablation', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('option, value, words', [
    ('--reconstruction', '{"drop_prob": 2}',
     '--reconstruction: drop_prob must be in [0, 1], got 2'),
    ('--search', '{"population_size": 1}', '--search: population_size'),
    ('--search', '{"fitnes": "mse"}', "'fitnes'"),
    ('--search', '[1]', 'is not a JSON dict'),
])
def test_bad_options(tmp_path, capsys, option, value, words):
    out = tmp_path / 'out.jsonl'
    with pytest.raises(SystemExit) as exit_info:
        _tool().main([option, value, '--out', str(out)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert words in error and '\n' not in error
    assert not out.exists()
