"""tools/ablate_quantizer.py: its rows, its report and its bad input."""
import importlib.util
import os.path as osp

import pytest

from clamp_mm.benchmark.ablation import (COMPONENTS, recipe_for,
                                         select_variants, variants)
from clamp_mm.benchmark.ablation_report import (ablation_tables,
                                                target_loss, target_table)

TOOL = osp.join(osp.dirname(__file__), '..', '..', 'tools',
                'ablate_quantizer.py')


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('ablate_quantizer', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rows_switch_each_component_on_and_off():
    full, linear = variants('full'), variants('linear')
    assert '+ptf' in full and '+ptf' not in linear
    everything = recipe_for(full['all'], 'W4/A4', 'full')
    assert everything.reparameterize_layernorm
    assert everything.act_observer == 'percentile'
    assert everything.point_quantizers == {'block_output': 'ptf'}
    for name in COMPONENTS:
        if name == 'ptf':
            continue
        without = recipe_for(linear[f'all -{name}'], 'W3/A4', 'linear')
        added = recipe_for(linear[f'+{name}'], 'W3/A4', 'linear')
        assert without != recipe_for(linear['all'], 'W3/A4', 'linear')
        assert added != recipe_for(linear['minmax'], 'W3/A4', 'linear')
        assert (without.weight_bits, without.act_bits) == (3, 4)
    preset = recipe_for(select_variants('linear', ['preset clamp_full'])[
        'preset clamp_full'], 'W4/A4', 'linear')
    assert preset.protocol == 'linear' and preset.preset == 'clamp_full'
    with pytest.raises(ValueError, match="unknown ablation variant 'best'"):
        select_variants('full', ['best'])
    with pytest.raises(ValueError, match='unknown preset'):
        select_variants('full', ['preset best'])


def test_tables_average_seeds():
    records = [
        dict(split='val', model='vit', setting='W4/A4', source='real',
             variant='all', protocol='linear', top1=value, fp_top1=88.0)
        for value in (86.0, 87.0)
    ]
    table = ablation_tables(records)
    assert '| all | 86.50 (-1.50) ±0.50 n=2 |' in table
    assert 'vit, W4/A4, real images, val split (FP 88.00)' in table


def test_target_table_judges_the_mean_loss_with_its_margin():
    def record(model, setting, protocol, source, seed, top1, fp=86.0,
               variant='preset clamp_full', split='test'):
        return dict(split=split, model=model, setting=setting,
                    protocol=protocol, source=source, seed=seed, top1=top1,
                    fp_top1=fp, variant=variant)

    records = [
        record('vit', 'W4/A4', 'linear', 'real', 0, 84.0),  # loss 2.0
        record('vit', 'W4/A4', 'linear', 'real', 1, 85.0),  # loss 1.0
        record('vit', 'W4/A4', 'full', 'clamp', 0, 82.0),  # loss 4.0
        record('vit', 'W4/A8', 'full', 'real', 0, 85.8),  # loss 0.2
        record('vit', 'W3/A4', 'full', 'real', 0, 80.0),  # no target
        record('vit', 'W4/A4', 'full', 'real', 0, 10.0, variant='minmax'),
        record('vit', 'W4/A4', 'full', 'real', 0, 10.0, split='val'),
    ]
    table = target_table(records, 'preset clamp_full')
    assert ('| vit (86.00) | W4/A4 | linear | real | 84.50 | 1.50 | ±0.50 '
            '| 0,1 | 1.5 | met | +0.00 |') in table
    assert ('| vit (86.00) | W4/A4 | full | clamp | 82.00 | 4.00 |  | 0 | '
            '3.5 | missed | -0.50 |') in table
    assert '| W4/A8 | full | real | 85.80 | 0.20 |  | 0 | 0.3 | met | +0.10 |' \
        in table
    assert '| W3/A4 | full | real | 80.00 | 6.00 |  | 0 |  |  |  |' in table
    # Other variants and the val split are not scored here.
    assert '10.00' not in table
    assert target_loss('W8/A8', 'linear', 'clamp') == 0.3
    assert target_loss('W3/A4', 'full', 'real') is None


@pytest.mark.parametrize('argv,message', [
    (['--models', 'resnet'], "unknown classifier 'resnet'"),
    (['--settings', 'W5/A5'], "unknown setting 'W5/A5'"),
    (['--protocols', 'half'], "unknown protocol 'half'"),
    (['--sources', 'psaq'], "unknown source 'psaq'"),
    (['--variants', 'best'], "unknown ablation variant 'best'"),
])
def test_bad_input_one_line_exit_2_nothing_written(tool, tmp_path, capsys,
                                                   argv, message):
    results = tmp_path / 'results.jsonl'
    with pytest.raises(SystemExit) as exit_info:
        tool.main(argv + ['--results', str(results), '--out',
                          str(tmp_path / 'out.md')])
    assert exit_info.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and message in errors[0]
    assert list(tmp_path.iterdir()) == []
