"""The evolutionary calibrator end to end on tiny models."""
import copy
import os.path as osp

import pytest
import torch

from clamp_mm.quant import iter_quantizers, model_cost
from clamp_mm.registry import CALIBRATORS
from clamp_mm.search import EvolutionaryCalibrator, SearchConfig
from clamp_mm.search.search_run import SearchRun
from search_models import (FACTORIES, fitness_through_model, quantized_tiny,
                           quantizer_state)


def _fast(**overrides):
    return SearchConfig.fast(**overrides)


def test_registered_and_configurable():
    calibrator = CALIBRATORS.build(
        dict(type='clamp_mm.EvolutionaryCalibrator', passes=3, cycles=4))
    assert isinstance(calibrator, EvolutionaryCalibrator)
    config = calibrator.config
    assert (config.passes, config.cycles, config.refresh_every_cycles) == (3,
                                                                           4,
                                                                           2)
    default = SearchConfig()
    assert (default.population_size, default.tournament_size, default.passes,
            default.cycles) == (15, 10, 10, 6)
    assert default.mutation_range_low_bits == 1e-3
    assert default.mutation_range_high_bits == 1e-4
    with pytest.raises(ValueError, match='block_input'):
        SearchConfig(block_input='labels')
    with pytest.raises(ValueError, match='population_size'):
        SearchConfig(population_size=0)
    with pytest.raises(ValueError, match='budget'):
        SearchConfig(mixed_precision=dict(weight_bit_choices=(4, 8)))


@pytest.mark.parametrize('family', sorted(FACTORIES))
@pytest.mark.parametrize('block_input', ['fp', 'quantized'])
def test_local_fitness_equals_full_model_computation(block_input, family):
    _, model, images = quantized_tiny(family)
    run = SearchRun(_fast(block_input=block_input), model, images)
    run._fresh_start()
    for name, block in run.blocks:
        scorer = run.make_scorer(name, block)
        local = scorer(run.layouts[name].read())
        reference = fitness_through_model(model, images, name, block_input)
        assert local == pytest.approx(reference, rel=1e-6, abs=1e-7)


def test_search_never_ends_worse_than_its_start():
    _, model, images = quantized_tiny('timm_vit')
    blocks = [name for name, _ in find_blocks(model)]
    before = {name: fitness_through_model(model, images, name,
                                          output_mae_weight=0.0)
              for name in blocks}
    result = EvolutionaryCalibrator(
        _fast(passes=2, output_mae_weight=0.0)).calibrate(model, images)
    assert result.finished and result.num_scored > 0
    for name in blocks:
        after = fitness_through_model(model, images, name,
                                      output_mae_weight=0.0)
        assert after <= before[name]
        assert result.best_fitness[name] <= result.initial_fitness[name]
    # The search moved at least one scale away from the observer's.
    assert result.best_fitness != result.initial_fitness


def find_blocks(model):
    from clamp_mm.models import find_adapter
    return find_adapter(model).blocks()


def _weight_bits_average(model):
    total_bits, total_params = 0, 0
    for module in model.modules():
        quantizer = getattr(module, 'weight_quantizer', None)
        if quantizer is not None and hasattr(quantizer, 'bits'):
            total_bits += module.weight.numel() * quantizer.bits
            total_params += module.weight.numel()
    return total_bits / total_params


def test_mixed_precision_respects_its_budget():
    _, model, images = quantized_tiny(
        'timm_vit', recipe=dict(weight_bits=8, act_bits=8))
    assert _weight_bits_average(model) == 8
    mixed = dict(weight_bit_choices=(4, 5, 6, 7, 8), bit_mutation_prob=0.5,
                 avg_weight_bits=5.0)
    result = EvolutionaryCalibrator(
        _fast(passes=2, mixed_precision=mixed)).calibrate(model, images)
    average = _weight_bits_average(model)
    assert average <= 5.0
    assert result.metrics['avg_weight_bits'] == pytest.approx(average)
    weight_bits = {bits for name, bits in result.bits.items()
                   if name.endswith('weight_quantizer')}
    assert weight_bits <= {4, 5, 6, 7, 8}
    for name, quantizer in iter_quantizers(model):
        assert quantizer.bits == result.bits[name]


def _report(model, images):
    from clamp_mm.models import find_adapter
    adapter = find_adapter(model)
    return model_cost(model, images[:1],
                      lambda _, x: adapter.forward_images(x))


@pytest.mark.parametrize('budget_key', ['gbops', 'size_mb'])
def test_mixed_precision_cost_budgets_hold_by_the_quant_report(budget_key):
    _, model, images = quantized_tiny('timm_vit',
                                      recipe=dict(weight_bits=8, act_bits=8))
    start = _report(model, images)
    quantized_weights = sum(
        module.weight.numel() for module in model.modules()
        if hasattr(getattr(module, 'weight_quantizer', None), 'bits'))
    # Half of what going from 8 to 4 bits on every weight would save.
    bound = (0.5 * start.bops / 1e9 if budget_key == 'gbops' else
             start.size_mb - 0.5 * quantized_weights * 4 / 8 / 2**20)
    mixed = {
        'weight_bit_choices': (4, 6, 8),
        'activation_bit_choices': (4, 6, 8),
        'bit_mutation_prob': 0.5,
        budget_key: bound
    }
    result = EvolutionaryCalibrator(
        _fast(mixed_precision=mixed)).calibrate(model, images)
    end = _report(model, images)
    measured = end.bops / 1e9 if budget_key == 'gbops' else end.size_mb
    assert measured <= bound * (1 + 1e-9)
    assert result.metrics[budget_key] == pytest.approx(measured)
    # The start (all 8 bits) was over budget: bits had to come down.
    assert measured < (start.bops / 1e9
                       if budget_key == 'gbops' else start.size_mb)


class PerturbingRefresh:
    """Stand-in for a generator's refresh: noise from the global RNG."""

    def __init__(self):
        self.calls = []

    def __call__(self, images, fp_model, quantized_model, iterations):
        fp_modes = {q.mode for _, q in iter_quantizers(fp_model)}
        quantized_modes = {q.mode for _, q in iter_quantizers(quantized_model)}
        self.calls.append((fp_modes, quantized_modes, iterations))
        return images + 0.05 * torch.randn_like(images)


@pytest.mark.parametrize('enabled', [True, False])
def test_cyclic_adaptation_refreshes_every_half_block_of_cycles(enabled):
    _, model, images = quantized_tiny('timm_vit')
    refresh = PerturbingRefresh()
    config = _fast(cycles=4, refresh_iterations=3, cyclic_adaptation=enabled)
    result = EvolutionaryCalibrator(config).calibrate(model, images, refresh)
    if not enabled:
        assert refresh.calls == []
        assert torch.equal(result.images, images)
        return
    # 2 blocks x 4 cycles = global cycles 0..7, a refresh before 2, 4, 6.
    assert len(refresh.calls) == 3
    assert all(call == ({'off'}, {'quantize'}, 3) for call in refresh.calls)
    assert not torch.equal(result.images, images)
    assert sum(entry['refreshed'] for entry in result.history) == 3


def test_generator_object_is_accepted_as_refresher():

    class Generator:
        calls = 0

        def refresh(self, images, model, quantized_model=None,
                    iterations=50):
            Generator.calls += 1
            return images.flip(-1)

    _, model, images = quantized_tiny('timm_vit')
    EvolutionaryCalibrator(_fast(cycles=4)).calibrate(model, images,
                                                      Generator())
    # 2 blocks x 4 cycles, refreshed every 2 cycles: before cycles 2, 4, 6.
    assert Generator.calls == 3


def _resumable_config(work_dir, **overrides):
    mixed = dict(weight_bit_choices=(3, 4, 5), bit_mutation_prob=0.3,
                 avg_weight_bits=4.0)
    return _fast(passes=2, cycles=2, children_per_cycle=3,
                 crossover_prob=0.5, mixed_precision=mixed,
                 work_dir=work_dir, **overrides)


@pytest.mark.parametrize('block_input', ['fp', 'quantized'])
def test_stop_and_resume_is_bit_identical(tmp_path, block_input):
    float_model, _, images = quantized_tiny('timm_vit')

    def run(work_dir, stop_after=None):
        torch.manual_seed(123)
        model = copy.deepcopy(float_model)
        config = _resumable_config(str(work_dir),
                                   stop_after_visits=stop_after,
                                   block_input=block_input)
        result = EvolutionaryCalibrator(config).calibrate(
            model, images, PerturbingRefresh(),
            recipe=dict(weight_bits=4, act_bits=8))
        return model, result

    uninterrupted, expected = run(tmp_path / 'whole')
    assert expected.finished and expected.total_visits == 4
    _, partial = run(tmp_path / 'parts', stop_after=1)
    assert not partial.finished and partial.visits_done == 1
    _, partial = run(tmp_path / 'parts', stop_after=3)
    assert partial.visits_done == 3
    resumed, result = run(tmp_path / 'parts')
    assert result.finished
    want, got = quantizer_state(uninterrupted), quantizer_state(resumed)
    assert want.keys() == got.keys()
    for name in want:
        assert want[name][0] == got[name][0], name
        assert torch.equal(want[name][1], got[name][1]), name
        assert torch.equal(want[name][2], got[name][2]), name
    assert torch.equal(expected.images, result.images)
    assert [e['best'] for e in expected.history] == [
        e['best'] for e in result.history
    ]


def test_resume_refuses_a_different_search(tmp_path):
    _, model, images = quantized_tiny('timm_vit')
    EvolutionaryCalibrator(_fast(work_dir=str(tmp_path),
                                 stop_after_visits=1)).calibrate(
                                     model, images)
    with pytest.raises(ValueError, match='different search'):
        EvolutionaryCalibrator(_fast(work_dir=str(tmp_path),
                                     temperature=0.5)).calibrate(
                                         model, images)


def test_work_dir_gets_summary_and_plots(tmp_path):
    _, model, images = quantized_tiny('timm_vit')
    mixed = dict(weight_bit_choices=(4, 5), avg_weight_bits=4.5)
    EvolutionaryCalibrator(
        _fast(work_dir=str(tmp_path), plots=True,
              mixed_precision=mixed)).calibrate(model, images)
    for name in ('search_state.pth', 'search_result.json',
                 'search_fitness.png', 'search_bits.png'):
        assert osp.getsize(tmp_path / name) > 0, name


@pytest.mark.parametrize('family', sorted(FACTORIES))
def test_search_runs_on_every_family(family):
    _, model, images = quantized_tiny(family)
    before = quantizer_state(model)
    result = EvolutionaryCalibrator(
        _fast(cycles=1, children_per_cycle=2)).calibrate(model, images)
    assert result.finished
    assert len(result.history) == len(result.best_fitness) >= 1
    assert all(torch.isfinite(torch.tensor(v))
               for v in result.best_fitness.values())
    assert quantizer_state(model).keys() == before.keys()


@pytest.mark.parametrize('change', ['recipe', 'images'])
def test_resume_refuses_state_of_other_bits_or_images(tmp_path, change):
    """Same search config, but the saved state started from other
    bit-widths (another recipe) or other images: refused, in one line."""
    float_model, _, images = quantized_tiny('timm_vit')
    config = _fast(work_dir=str(tmp_path), stop_after_visits=1)
    EvolutionaryCalibrator(config).calibrate(
        copy.deepcopy(float_model), images,
        recipe=dict(weight_bits=4, act_bits=8))
    recipe = dict(weight_bits=4, act_bits=4 if change == 'recipe' else 8)
    other_images = images + 0.01 if change == 'images' else images
    with pytest.raises(ValueError, match='different search') as error:
        EvolutionaryCalibrator(config.replace(stop_after_visits=None)
                               ).calibrate(copy.deepcopy(float_model),
                                           other_images, recipe=recipe)
    assert '\n' not in str(error.value) and len(str(error.value)) < 600
    assert ('start.bits' if change == 'recipe' else
            'start.images_sha256') in str(error.value)
