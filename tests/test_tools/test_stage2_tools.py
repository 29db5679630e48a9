"""Command-line checks of tools/search_ablation.py and tools/time_pipeline.py
(bad input: one line, exit status 2, nothing written)."""
import importlib
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _tool(name):
    sys.path.insert(0, osp.join(REPO, 'tools'))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def test_variants_parse_literals_and_dicts():
    tool = _tool('search_ablation')
    name, options = tool.parse_variant(
        "mp:mutation_levels=0.5,fitness='mse',mixed_precision=dict("
        "weight_bit_choices=(3, 4, 5),avg_weight_bits=3.5),"
        "refresher={'adaptive_weight': 10.0}")
    assert name == 'mp'
    assert options == dict(
        mutation_levels=0.5, fitness='mse',
        mixed_precision=dict(weight_bit_choices=(3, 4, 5),
                             avg_weight_bits=3.5),
        refresher=dict(adaptive_weight=10.0))
    assert tool.parse_variant('plain') == ('plain', {})


@pytest.mark.parametrize('tool_name, argv, shown', [
    ('search_ablation', ['--variants', "a:fitness='accuracy'"],
     "fitness must be one of ('info_nce'"),
    ('search_ablation', ['--variants', 'a:population_size=1'],
     'population_size must be an int >= 2, got 1'),
    ('search_ablation', ['--variants', "a:mutation_mode='gauss'"],
     'mutation_mode must be one of'),
    ('search_ablation', ['--variants', 'a:mutation_levels=-1.0'],
     'mutation_levels must be > 0, got -1.0'),
    ('search_ablation', ['--variants', 'a:passes=open(1)'],
     'is not a literal'),
    ('search_ablation', ['--variants', 'a:refresher=3'],
     'refresher must be a dict'),
    ('search_ablation', ['--variants', 'a', '--num-images', '0'],
     '--num-images must be >= 1, got 0'),
    ('time_pipeline', ['--search-option', 'population_size=0'],
     'population_size must be an int >= 2, got 0'),
    ('time_pipeline', ['--search-option', "fitness='top1'"],
     "fitness must be one of ('info_nce'"),
    ('time_pipeline', ['--search-option', 'passes'], 'expected FIELD=VALUE'),
])
def test_bad_search_options_one_line_exit_2_nothing_written(
        tmp_path, capsys, tool_name, argv, shown):
    tool = _tool(tool_name)
    out = tmp_path / 'out.json'
    extra = (['--work-dir', str(tmp_path / 'work')]
             if tool_name == 'search_ablation' else [])
    with pytest.raises(SystemExit) as exit_info:
        tool.main(argv + ['--out', str(out)] + extra)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and shown in error[0], error
    assert list(tmp_path.iterdir()) == []
