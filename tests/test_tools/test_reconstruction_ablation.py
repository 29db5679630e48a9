"""tools/reconstruction_ablation.py: bad options exit 2 with one line,
nothing written."""
import importlib.util
import os.path as osp

import pytest

TOOL = osp.join(osp.dirname(osp.dirname(osp.dirname(__file__))), 'tools',
                'reconstruction_ablation.py')


def _tool():
    spec = importlib.util.spec_from_file_location('reconstruction_ablation',
                                                  TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('value, words', [
    ('{"drop_prob": 2}', 'drop_prob must be in [0, 1], got 2'),
    ('{"iterations": -5}', 'iterations must be an int >= 0, got -5'),
    ('{"iters": 5}', "unknown field(s) ['iters']"),
    ('[1]', 'is not a JSON dict'),
])
def test_bad_reconstruction_options(tmp_path, capsys, value, words):
    out = tmp_path / 'out.jsonl'
    with pytest.raises(SystemExit) as exit_info:
        _tool().main(['--reconstruction', value, '--out', str(out)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert words in error and '\n' not in error
    assert not out.exists()
