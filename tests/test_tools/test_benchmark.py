"""tools/benchmark.py and clamp_mm.benchmark."""
import importlib.util
import json
import mmap
import os.path as osp
import time

import pytest
import torch

from clamp_mm.benchmark import (METHOD_SPECS, BenchmarkConfig, StageMeter,
                                check_targets, parse_methods, parse_settings,
                                summarise)
from clamp_mm.benchmark.methods import PAPER_METHODS
from clamp_mm.benchmark.report import write_report
from clamp_mm.benchmark.summary import mean_std

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
torch.set_num_threads(1)


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'benchmark_tool', osp.join(REPO, 'tools', 'benchmark.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(method, setting, top1, seed=0, seconds=None, **extra):
    """A cell record as the runner writes it."""
    stage_seconds = seconds or {'generate': 1.0, 'calibrate': 0.5,
                                'evaluate': 0.2}
    return dict(dict(model='vit', method=method, setting=setting, seed=seed,
                     metrics={'top1': top1}, fp_metrics={'top1': 80.0},
                     stage_seconds=stage_seconds,
                     stage_peak_mib={stage: 1.0 for stage in stage_seconds},
                     cost=dict(size_mb=0.1, gbops=0.01), avg_weight_bits=4.0,
                     avg_activation_bits=4.0, misprediction=None,
                     cell_seconds=1.0, threads=1), **extra)


def test_parse_settings_and_methods():
    assert parse_settings(['w4a4', 'W8/A8', 'W4/A4']) == ('W4/A4', 'W8/A8')
    with pytest.raises(ValueError, match='W5/A5'):
        parse_settings(['W5/A5'])
    assert parse_methods(['all']) == PAPER_METHODS
    # The block reconstructions run only when named.
    assert 'clamp_recon' in METHOD_SPECS
    assert 'clamp_recon' not in PAPER_METHODS
    assert parse_methods(['clamp_recon', 'all']) == PAPER_METHODS + (
        'clamp_recon', )
    # Report order, whatever the order asked.
    assert parse_methods(['mixed', 'fp']) == ('fp', 'mixed')
    with pytest.raises(ValueError, match='clamp2'):
        parse_methods(['clamp2'])


def test_generator_budget_scales_every_generator_alike():
    config = BenchmarkConfig(generator_iterations=100)
    assert config.generator_cfg('clamp', 3)['iterations'] == 100
    assert config.generator_cfg('clamp', 3)['warmup_iterations'] == 20
    assert config.generator_cfg('clamp', 3)['seed'] == 3
    assert config.generator_cfg('psaq_v1', 0)['iterations'] == 100
    # v2: 4 rounds share the budget.
    assert config.generator_cfg('psaq_v2', 0)['iterations'] == 25
    assert 'iterations' not in BenchmarkConfig().generator_cfg('clamp', 0)
    with pytest.raises(ValueError, match='generator_iterations=2'):
        BenchmarkConfig(generator_iterations=2)


def test_source_budget_overrides_the_shared_one_for_that_source_only():
    config = BenchmarkConfig(source_iterations=dict(psaq_v1=40))
    assert config.generator_cfg('psaq_v1', 0)['iterations'] == 40
    # CLAMP keeps its method.md default, v2 too.
    assert 'iterations' not in config.generator_cfg('clamp', 0)
    assert 'iterations' not in config.generator_cfg('psaq_v2', 0)
    config = BenchmarkConfig(generator_iterations=100,
                             source_iterations=dict(clamp=500))
    assert config.generator_cfg('clamp', 0)['iterations'] == 500
    assert config.generator_cfg('clamp', 0)['warmup_iterations'] == 100
    assert config.generator_cfg('psaq_v2', 0)['iterations'] == 25
    with pytest.raises(ValueError, match="'gaussian'"):
        BenchmarkConfig(source_iterations=dict(gaussian=100))
    with pytest.raises(ValueError, match=r"source_iterations\['clamp'\]=2"):
        BenchmarkConfig(source_iterations=dict(clamp=2))


def test_stage_meter_sees_time_and_memory():
    meter = StageMeter(interval=0.005)
    with meter.stage('allocate'):
        # Fresh anonymous pages, touched: an allocator could otherwise hand
        # back memory an earlier test freed, and RSS would not grow.
        block = mmap.mmap(-1, 64 * 2**20)
        block.write(b'\1' * len(block))
        time.sleep(0.05)
    block.close()
    assert meter.seconds['allocate'] >= 0.05
    assert meter.peak_mib['allocate'] > 40
    with meter.stage('idle'):
        time.sleep(0.02)
    assert meter.peak_mib['idle'] < 40
    with pytest.raises(RuntimeError, match='do not nest'):
        with meter.stage('outer'):
            meter.stage('inner')


def test_mean_std():
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(2**0.5), 2)
    assert mean_std([5.0, None]) == (5.0, None, 1)
    assert mean_std([]) == (None, None, 0)


def test_targets_verdicts():
    records = [
        record('fp', 'W4/A4', 80.0), record('real', 'W4/A4', 77.0),
        record('psaq_v1', 'W4/A4', 76.5), record('clamp_full', 'W4/A4', 77.4),
        record('fp', 'W8/A8', 80.0), record('gaussian', 'W8/A8', 79.8),
        record('clamp_full', 'W8/A8', 79.5)
    ]
    checks = {target.split(':')[0]: (verdict, figures)
              for target, verdict, figures in check_targets(
                  summarise(records), 'vit', 'top1')}
    # 77.4 >= 77.0 but < 76.5 + 1.
    assert checks['W4/A4'][0] == 'missed'
    # clamp_full is 0.5 below FP at W8/A8.
    assert checks['W8/A8'][0] == 'missed'
    assert 'clamp_full -0.50' in checks['W8/A8'][1]
    assert checks['W4/A8'][0] == 'not run'
    records[3] = record('clamp_full', 'W4/A4', 77.6)
    checks = check_targets(summarise(records), 'vit', 'top1')
    assert checks[0][1] == 'met'


def test_stage2_targets():
    """Issue 14: full CLAMP 1 point over stage 1 and PSAQ-ViT v1; half the
    gap to FP where stage 1 is within a point of it."""
    from clamp_mm.benchmark.summary import check_stage2_targets

    def verdicts(full, stage1=80.0, v1=79.0, fp=86.0):
        records = [record('fp', 'W4/A4', fp), record('psaq_v1', 'W4/A4', v1),
                   record('clamp_stage1', 'W4/A4', stage1),
                   record('clamp_full', 'W4/A4', full)]
        return {target: verdict for target, verdict, _ in
                check_stage2_targets(summarise(records), 'vit', 'top1')}

    plain = 'W4/A4: full CLAMP >= CLAMP stage 1 + 1 and >= PSAQ-ViT v1 + 1'
    assert verdicts(81.0)[plain] == 'met'
    assert verdicts(80.9)[plain] == 'missed'
    assert verdicts(81.5, v1=81.0)[plain] == 'missed'   # only 0.5 over v1
    assert verdicts(81.0)['W3/A4: full CLAMP >= CLAMP stage 1 + 1 and >= '
                          'PSAQ-ViT v1 + 1'] == 'not run'
    # Stage 1 0.8 below FP: the bar is 85.6, not 86.2.
    close = ('W4/A4: full CLAMP >= stage 1 + half its gap to FP and >= '
             'PSAQ-ViT v1 + 1')
    assert verdicts(85.6, stage1=85.2, v1=84.0)[close] == 'met'
    assert verdicts(85.5, stage1=85.2, v1=84.0)[close] == 'missed'


def test_stage2_mixed_precision_target():
    """Issue 14: mixed precision at <= 3.5 average weight bits and A4 (run
    under any A4 setting) scores at least the better fixed W4/A4 CLAMP."""
    from clamp_mm.benchmark.summary import check_stage2_targets
    target = ('mixed precision: <= 3.5 avg weight bits, A4 >= fixed W4/A4 '
              '(clamp_stage1 / clamp_full)')

    def verdict(top1, bits=3.4, setting='W3/A4', fixed=True):
        records = [record('mixed', setting, top1, avg_weight_bits=bits,
                          weight_bits_budget=3.5)]
        if fixed:
            records += [record('clamp_stage1', 'W4/A4', 84.0),
                        record('clamp_full', 'W4/A4', 83.0)]
        checks = {name: (result, figures) for name, result, figures in
                  check_stage2_targets(summarise(records), 'vit', 'top1')}
        return checks[target]

    assert verdict(84.0) == ('met', '3.400 bits (budget 3.5), 84.00 vs '
                             'clamp_stage1 84.00, clamp_full 83.00')
    assert verdict(83.9)[0] == 'missed'      # above full CLAMP, below stage 1
    assert verdict(85.0, bits=3.6)[0] == 'missed'    # over the 3.5 bits
    assert verdict(84.0, setting='W4/A4')[0] == 'met'
    assert verdict(84.0, setting='W4/A8')[0] == 'not run'  # not A4
    assert verdict(84.0, fixed=False)[0] == 'not run'


def test_report_lists_cells_not_run(tmp_path):
    records = [record('fp', 'W4/A4', 80.0, seed=seed) for seed in (0, 1)]
    records.append(record('real', 'W4/A4', 70.0, seed=0))
    payload = dict(
        records=records,
        environment=dict(date='now', cpu='cpu', machine='x86_64',
                         cpu_count=2, threads=1, load_average=[1, 1, 1],
                         python='3', versions={'torch': '2'},
                         git_commit='abc'),
        run=dict(command='python tools/benchmark.py', seeds=[0, 1],
                 settings=['W4/A4'], methods=['fp', 'real'],
                 config=dict(mixed_avg_weight_bits=4.5),
                 origins={'vit': 'test'}, metrics={'vit': 'top1'},
                 num_test={'vit': 10}))
    path = write_report(str(tmp_path / 'report.md'), payload, {}, 'NOTES')
    text = open(path).read()
    assert '| FP | 80.00 ± 0.00 (n=2) |' in text
    assert '| real data (observers) | 70.00 |' in text
    assert 'seeds [0] only (of [0, 1]): W4/A4 real' in text
    assert 'W8/A8 clamp_full' in text  # outside the run: listed
    assert 'model `upernet`: not run at all' in text
    assert text.rstrip().endswith('NOTES')


@pytest.mark.slow
def test_quick_run_writes_every_cell(tmp_path):
    """--quick end to end on the shipped ViT config (random init when no
    checkpoint is there): every method x setting cell, consistent FP."""
    tool = load_tool()
    out = tmp_path / 'benchmarks.md'
    settings = ['W8/A8', 'W4/A8', 'W4/A4']
    payload = tool.main([
        '--quick', '--models', 'vit', '--allow-random-init', '--num-images',
        '8', '--generator-iterations', '4', '--num-test', '200',
        '--settings', *settings, '--mixed-avg-weight-bits', '3.5',
        '--mixed-weight-bits', '3', '4', '5', '--out', str(out),
        '--work-dir', str(tmp_path / 'work')
    ])
    results = json.load(open(tmp_path / 'benchmarks' / 'results.json'))
    assert results['records'] == json.loads(json.dumps(payload['records']))
    cells = {(r['method'], r['setting']): r for r in results['records']}
    assert set(cells) == {(method, setting) for method in PAPER_METHODS
                          for setting in settings}
    fp_top1 = cells[('fp', 'W8/A8')]['metrics']['top1']
    for (method, setting), cell in cells.items():
        # Every quantized model with its quantizers off is the FP model.
        assert cell['fp_metrics']['top1'] == fp_top1, (method, setting)
        assert cell['stage_seconds']['evaluate'] > 0
        if method != 'fp':
            assert cell['stage_seconds']['calibrate'] > 0
            assert cell['cost']['size_mb'] < cell['cost']['float_size_mb']
    for method in PAPER_METHODS:
        if method in ('fp', 'mixed'):
            continue
        w8, w4 = cells[(method, 'W8/A8')], cells[(method, 'W4/A4')]
        assert w8['metrics']['agreement'] > 90, method
        assert abs(w8['metrics']['top1'] - fp_top1) <= 3.0, method
        assert w4['cost']['gbops'] < w8['cost']['gbops']
    mixed = cells[('mixed', 'W4/A4')]
    # The command line's budget and bit choices reach the search.
    assert mixed['weight_bits_budget'] == 3.5
    assert mixed['avg_weight_bits'] <= 3.5 + 1e-9
    assert set(mixed['weight_bits_per_layer'].values()) <= {3, 4, 5}
    assert 'search' in cells[('clamp_full', 'W4/A4')]
    assert cells[('clamp_full', 'W4/A4')]['stage_seconds']['refresh'] > 0
    assert cells[('clamp_search', 'W4/A4')]['stage_seconds'].get(
        'refresh', 0.0) == 0.0
    text = out.read_text()
    for method in PAPER_METHODS:
        assert f'| {METHOD_SPECS[method].label} |' in text
    assert 'not run' not in text.split('### top1')[1].split('###')[0]
    for figure in ('vit_accuracy.png', 'vit_stage_times.png',
                   'vit_images.png', 'vit_mixed_bits.png'):
        assert (tmp_path / 'benchmarks' / figure).stat().st_size > 1000


def test_reconstruction_method_cell(tmp_path):
    """real_recon runs the block reconstruction after the observers: its
    time is a stage of its own, every block is recorded, and with its
    quantizers off the model is still the float model."""
    tool = load_tool()
    out = tmp_path / 'benchmarks.md'
    payload = tool.main([
        '--models', 'vit', '--allow-random-init', '--methods', 'fp', 'real',
        'real_recon', '--settings', 'W4/A4', '--seeds', '0', '--num-images',
        '4', '--num-test', '50', '--reconstruction-option', 'iterations=3',
        '--out', str(out), '--work-dir', str(tmp_path / 'work')])
    cells = {r['method']: r for r in payload['records']}
    recon, observers = cells['real_recon'], cells['real']
    assert recon['stage_seconds']['reconstruct'] > 0
    assert 'search' not in recon['stage_seconds']
    assert 'reconstruct' not in observers['stage_seconds']
    reconstruction = recon['reconstruction']
    assert reconstruction['finished']
    assert len(reconstruction['block_losses']) == 4  # the ViT's 4 blocks
    assert reconstruction['config'] != {}
    assert payload['run']['config']['reconstruction'] == {'iterations': 3}
    assert recon['fp_metrics'] == cells['fp']['metrics']
    text = out.read_text()
    assert '| real data + reconstruction |' in text
    assert '| reconstruct s |' in text


def test_rerun_resumes_the_saved_results_and_refuses_another_config(
        tmp_path, capsys):
    """Running again into the same results keeps every recorded cell as it
    was (not run again) and runs only the new ones; results of another
    benchmark config are a one-line error and stay as they were."""
    tool = load_tool()
    out = tmp_path / 'benchmarks.md'
    common = ['--models', 'vit', '--allow-random-init', '--settings',
              'W4/A4', '--seeds', '0', '--num-test', '50', '--out', str(out),
              '--work-dir', str(tmp_path / 'work')]
    first = tool.main(common + ['--num-images', '4', '--methods', 'fp',
                                'gaussian'])
    results = tmp_path / 'benchmarks' / 'results.json'
    second = tool.main(common + ['--num-images', '4', '--methods', 'fp',
                                 'gaussian', 'real'])
    assert [r['method'] for r in second['records']] == ['fp', 'gaussian',
                                                        'real']
    # The recorded cells are the very records of the first run (their
    # timings included), not a second measurement.
    assert second['records'][:2] == json.loads(json.dumps(first['records']))
    assert json.load(open(results))['records'] == json.loads(
        json.dumps(second['records']))
    assert second['run']['methods'] == ['fp', 'gaussian', 'real']
    assert second['run']['command'].endswith('  # resumed')
    before = results.read_bytes()
    report = out.read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        tool.main(common + ['--num-images', '8', '--methods', 'fp'])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert 'another benchmark config (num_images: 4 there, 8 here)' in \
        error[-1]
    assert results.read_bytes() == before and out.read_bytes() == report


def test_merge_keeps_first_cell_and_adds_new_ones():
    tool = load_tool()
    run = dict(models=['vit'], methods=['fp'], settings=['W8/A8'], seeds=[0],
               origins={'vit': 'a'}, metrics={'vit': 'top1'},
               num_test={'vit': 10}, command='first', config={})
    payload = dict(records=[record('fp', 'W8/A8', 80.0)], run=run)
    other = dict(records=[record('fp', 'W8/A8', 70.0),
                          record('real', 'W4/A4', 60.0)],
                 run=dict(run, methods=['fp', 'real'], settings=['W4/A4'],
                          command='second'))
    tool.merge_payload(payload, other, 'other.json')
    cells = {(r['method'], r['setting']): r for r in payload['records']}
    assert cells[('fp', 'W8/A8')]['metrics']['top1'] == 80.0
    assert cells[('real', 'W4/A4')]['merged_from'] == 'other.json'
    assert payload['run']['settings'] == ['W8/A8', 'W4/A4']
    assert payload['run']['methods'] == ['fp', 'real']
    assert 'second' in payload['run']['command']


def test_quantizer_option_reaches_every_quantized_cell(tmp_path,
                                                      monkeypatch):
    """--quantizer-option sets the quantizer of every method at the
    setting's bits; the run records the fields and the report names the
    preset."""
    import clamp_mm.benchmark.runner as runner
    recipes = []
    quantize_model = runner.quantize_model

    def recording(model, recipe, *args, **kwargs):
        recipes.append(recipe)
        return quantize_model(model, recipe, *args, **kwargs)

    monkeypatch.setattr(runner, 'quantize_model', recording)
    tool = load_tool()
    out = tmp_path / 'benchmarks.md'
    payload = tool.main([
        '--models', 'vit', '--allow-random-init', '--methods', 'fp', 'real',
        'gaussian', '--settings', 'W4/A4', 'W8/A8', '--seeds', '0',
        '--num-images', '4', '--num-test', '20', '--no-fp-check',
        '--quantizer-option', "preset='clamp_data_free_linear'",
        '--out', str(out), '--work-dir', str(tmp_path / 'work')])
    assert [(r.protocol, r.preset, r.weight_bits, r.act_bits)
            for r in recipes] == [
        ('linear', 'clamp_data_free_linear', 4, 4)] * 2 + [
        ('linear', 'clamp_data_free_linear', 8, 8)] * 2
    assert payload['run']['config']['quantizer'] == {
        'preset': 'clamp_data_free_linear'}
    assert payload['run']['quantizer_recipe']['protocol'] == 'linear'
    assert "preset 'clamp_data_free_linear'" in out.read_text()


def test_merge_refuses_results_of_another_quantizer():
    tool = load_tool()
    run = dict(models=['vit'], methods=['fp'], settings=['W8/A8'], seeds=[0],
               origins={'vit': 'a'}, metrics={'vit': 'top1'},
               num_test={'vit': 10}, command='first', config={})
    payload = dict(records=[record('fp', 'W8/A8', 80.0)], run=run)
    other = dict(records=[record('real', 'W4/A4', 60.0)],
                 run=dict(run, config=dict(quantizer=dict(
                     protocol='linear')), command='second'))
    with pytest.raises(SystemExit, match="--merge other.json: its quantizer "
                       "fields {'protocol': 'linear'} differ"):
        tool.merge_payload(payload, other, 'other.json')
    assert len(payload['records']) == 1


def test_recount_gives_float_and_quantized_cells_one_count():
    from clamp_mm.benchmark.recount import recount_costs
    payload = dict(records=[
        record('fp', 'W8/A8', 80.0), record('real', 'W8/A8', 79.0),
        record('real', 'W4/A4', 70.0),
        record('mixed', 'W4/A4', 71.0,
               weight_bits_per_layer={'backbone.layers.0.attn.qkv': 8})])
    assert recount_costs(payload) == 4
    fp, w8, w4, mixed = (r['cost'] for r in payload['records'])
    # The same layers and matmuls are counted in every cell.
    assert fp['gbops'] == fp['float_gbops'] == w8['float_gbops']
    assert fp['gmacs'] == w8['gmacs'] == w4['gmacs'] == mixed['gmacs']
    assert w4['gbops'] < w8['gbops'] < fp['gbops']
    assert w4['size_mb'] < w8['size_mb'] < fp['size_mb']
    # One layer kept at 8 bits: larger than plain W4/A4.
    assert w4['size_mb'] < mixed['size_mb'] < w8['size_mb']


def test_recount_counts_under_the_runs_quantizer():
    """A run whose quantizer keeps the patch embedding float is counted
    with a float patch embedding (more bit operations than the default's
    8-bit image), one recorded before ``patch_embed_input_bits`` existed
    with a 4-bit image (fewer)."""
    from clamp_mm.benchmark.recount import recount_costs
    default = dict(records=[record('real', 'W4/A4', 70.0)], run={})
    float_embed = dict(records=[record('real', 'W4/A4', 70.0)], run=dict(
        config=dict(quantizer=dict(quantize_patch_embed=False))))
    # Recorded before patch_embed_input_bits existed: a 4-bit image.
    old_run = dict(records=[record('real', 'W4/A4', 70.0)], run=dict(
        quantizer_recipe=dict(protocol='full')))
    for payload in (default, float_embed, old_run):
        recount_costs(payload)
    gbops = [payload['records'][0]['cost']['gbops']
             for payload in (old_run, default, float_embed)]
    assert gbops[0] < gbops[1] < gbops[2]


@pytest.mark.parametrize('option, shown', [
    (['--recount-cost'], '--recount-cost needs --report-only'),
    (['--merge', 'x.json'], '--merge needs --report-only'),
    (['--source-iterations', 'psaq_v1'], "'psaq_v1'"),
    (['--source-iterations', 'gaussian=100'], "'gaussian'"),
    (['--generator-iterations', '2'], 'generator_iterations=2'),
    (['--search-option', 'bogus=1'], "'bogus'"),
    (['--search-option', 'mutation_range_low_bits=-1'],
     'mutation_range_low_bits must be > 0'),
    (['--search-option', 'passes'], "'passes'"),
    (['--search-population', '1'], 'population_size must be an int >= 2, '
     'got 1'),
    (['--search-option', "fitness='accuracy'"],
     "fitness must be one of ('info_nce'"),
    (['--search-option', "mutation_mode='gaussian'"],
     "mutation_mode must be one of ('relative', 'absolute', "
     "'levels'), got 'gaussian"),
    (['--search-option', 'mutation_levels=-0.5'],
     'mutation_levels must be > 0, got -0.5'),
    (['--reconstruction-option', 'iterations=-1'],
     'iterations must be an int >= 0, got -1'),
    (['--reconstruction-option', 'iteration=10'],
     "unknown field(s) ['iteration']"),
    (['--reconstruction-option', 'iterations'], "'iterations'"),
    (['--quantizer-option', "preset='nope'"],
     "quantizer fields: preset must be one of"),
    (['--quantizer-option', 'weight_bits=3'],
     'quantizer fields: weight_bits comes from the setting'),
    (['--quantizer-option', 'bogus=1'],
     "quantizer fields: unknown QuantRecipe field(s) ['bogus']"),
    (['--quantizer-option', 'protocol=linear'], "'protocol=linear'"),
    (['--mixed-avg-weight-bits', '2.5'],
     'mixed_avg_weight_bits=2.5, expected at least the smallest of '
     'mixed_weight_bit_choices (3, 4, 5, 6, 7, 8)'),
    (['--mixed-avg-weight-bits', '0'],
     'mixed precision: avg_weight_bits must be > 0, got 0.0'),
    (['--mixed-weight-bits', '9'],
     'mixed precision: weight_bit_choices must hold ints in 2..8, got (9,)'),
])
def test_bad_budget_is_one_line_error_before_anything_is_written(
        tmp_path, capsys, option, shown):
    tool = load_tool()
    out = tmp_path / 'benchmarks.md'
    with pytest.raises(SystemExit) as exit_info:
        tool.main(['--models', 'vit', '--out', str(out), '--work-dir',
                   str(tmp_path / 'work'), *option])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert shown in error
    assert list(tmp_path.iterdir()) == []


def test_grey_generation_only_for_grey_models_and_optimising_sources():
    from clamp_mm.benchmark import MODEL_SPECS
    assert MODEL_SPECS['vit'].grey_inputs
    assert not MODEL_SPECS['mask_rcnn'].grey_inputs
    config = BenchmarkConfig(grey_generation=True)
    assert config.generator_cfg('clamp', 0, grey_inputs=True)['grayscale']
    assert config.generator_cfg('psaq_v1', 0, grey_inputs=True)['grayscale']
    assert 'grayscale' not in config.generator_cfg('gaussian', 0, True)
    assert 'grayscale' not in config.generator_cfg('clamp', 0, False)
    assert 'grayscale' not in BenchmarkConfig().generator_cfg('clamp', 0,
                                                               True)


def test_coco_map_margins_are_points_not_fractions():
    """CocoMetric reports mAP as a fraction: 0.3 point is 0.003."""

    def coco(method, setting, value):
        cell = record(method, setting, 0.0)
        cell.update(model='mask_rcnn', metrics={'coco/bbox_mAP': value})
        return cell

    records = [coco('fp', 'W8/A8', 0.342), coco('gaussian', 'W8/A8', 0.338)]
    checks = dict((target, (verdict, figures)) for target, verdict, figures
                  in check_targets(summarise(records), 'mask_rcnn',
                                   'coco/bbox_mAP'))
    verdict, figures = checks['W8/A8: every data-free method within 0.3 of FP']
    assert verdict == 'missed'  # 0.4 point below FP
    assert 'gaussian -0.004' in figures
    records[1] = coco('gaussian', 'W8/A8', 0.340)
    checks = check_targets(summarise(records), 'mask_rcnn', 'coco/bbox_mAP')
    assert checks[1][1] == 'met'


def test_fp_check_holds_other_seeds_to_the_float_figure():
    """A seed merged from a run without an 'fp' cell is checked against the
    FP cell of another seed (the float model has no seed); a wrong float
    figure still fails the check."""
    from clamp_mm.benchmark.report import _fp_consistency
    from clamp_mm.benchmark.summary import summarise
    good = [record('fp', 'W4/A4', 80.0, seed=0),
            record('real', 'W4/A4', 70.0, seed=0),
            record('real', 'W4/A4', 71.0, seed=1)]
    text = _fp_consistency(summarise(good), 'vit', 'top1')
    assert text.startswith('FP check: in all 2 quantized cells')
    bad = good + [dict(record('clamp_stage1', 'W4/A4', 70.0, seed=1),
                       fp_metrics={'top1': 79.0})]
    text = _fp_consistency(summarise(bad), 'vit', 'top1')
    assert text.startswith('FP check FAILED')
    assert 'clamp_stage1 W4/A4 seed 1 (79.0 vs 80.0)' in text
