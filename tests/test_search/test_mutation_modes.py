"""Mutation modes, the rounding-level monitor and the search's dynamics log."""
import pytest
import torch

from clamp_mm.quant import iter_quantizers
from clamp_mm.search import EvolutionaryCalibrator, SearchConfig
from clamp_mm.search.genome import GenomeLayout, GenomeOperators
from clamp_mm.search.search_stats import RoundingLevelMonitor
from search_models import quantized_tiny


@pytest.fixture
def block_and_layout():
    _, model, _ = quantized_tiny('timm_vit')
    block = model.blocks[0]
    quantizers = [(name, q) for name, q in iter_quantizers(block,
                                                           prefix='blocks.0')
                  if q.is_calibrated]
    return block, GenomeLayout(quantizers)


def _operators(layout, mode, levels=0.5, low=1e-3, seed=0):
    return GenomeOperators(layout, torch.Generator().manual_seed(seed), 4, 8,
                           low, 1e-4, mode=mode, levels=levels)


def test_absolute_mutation_adds_bounded_absolute_noise(block_and_layout):
    _, layout = block_and_layout
    parent = layout.read()
    child = _operators(layout, 'absolute', low=1e-3).perturb_scales(parent)
    difference = (child.scale - parent.scale).abs()
    assert bool((difference <= 1e-3 * (1 + 1e-5)).all())
    # Absolute: small scales move by a larger fraction than large ones.
    relative = difference / parent.scale
    assert float(relative.max()) > 10 * float(relative.min().clamp(min=1e-9))
    assert bool((child.scale > 0).all())
    assert torch.equal(child.zero_point, parent.zero_point)


def test_absolute_mutation_stays_positive():
    _, model, _ = quantized_tiny('timm_vit')
    quantizers = [(n, q) for n, q in iter_quantizers(model.blocks[0])
                  if q.is_calibrated]
    layout = GenomeLayout(quantizers)
    parent = layout.read()
    # A range far above every scale: |s + U(-r, r)| must still be > 0.
    child = _operators(layout, 'absolute', low=10.0).perturb_scales(parent)
    assert bool((child.scale > 0).all())


def test_levels_mutation_is_sized_to_the_bit_width(block_and_layout):
    _, layout = block_and_layout
    parent = layout.read()
    child = _operators(layout, 'levels', levels=2.0).perturb_scales(parent)
    ratio = (child.scale / parent.scale - 1).abs()
    bound = layout.expand(torch.tensor(
        [2.0 / (2**int(b) - 1) for b in parent.bits]))
    assert bool((ratio <= bound * (1 + 1e-5)).all())
    # The bound is used, not a much smaller step: some element gets close.
    assert float((ratio / bound).max()) > 0.9
    # An explicit noise_range is in levels too.
    seeded = _operators(layout, 'levels').perturb_scales(parent, 0.25)
    ratio = (seeded.scale / parent.scale - 1).abs()
    assert bool((ratio <= layout.expand(torch.tensor(
        [0.25 / (2**int(b) - 1) for b in parent.bits])) * (1 + 1e-5)).all())


def test_unknown_mode_and_bad_config_values_name_the_field():
    with pytest.raises(ValueError, match="mutation mode must be one of"):
        GenomeOperators(None, torch.Generator(), 4, 8, 1e-3, 1e-4,
                        mode='gaussian')
    with pytest.raises(ValueError, match='mutation_mode must be one of'):
        SearchConfig(mutation_mode='gaussian')
    with pytest.raises(ValueError, match='mutation_levels must be > 0'):
        SearchConfig(mutation_levels=-0.5)
    with pytest.raises(ValueError, match='mutation_range_low_bits'):
        SearchConfig(mutation_range_low_bits=-1e-3)
    with pytest.raises(ValueError, match=r"fitness must be one of \("):
        SearchConfig(fitness='accuracy')
    with pytest.raises(ValueError, match='population_size must be'):
        SearchConfig(population_size=1)


def _codes(weight, quantizer, scale):
    qmin, qmax = quantizer.integer_range
    shape = [-1] + [1] * (weight.dim() - 1)
    return torch.clamp(torch.round(weight / scale.view(shape)) +
                       quantizer.zero_point.view(shape), qmin, qmax)


def test_rounding_level_monitor_counts_changed_codes(block_and_layout):
    block, layout = block_and_layout
    monitor = RoundingLevelMonitor(layout, block)
    parent = layout.read()
    assert monitor.changed_share(parent, parent.clone()) == 0.0
    child = _operators(layout, 'levels', levels=3.0).perturb_scales(parent)
    share = monitor.changed_share(parent, child)
    # Brute force over the block's quantized layers.
    changed = total = 0
    for index, quantizer in enumerate(layout.quantizers):
        for module in block.modules():
            if getattr(module, 'weight_quantizer', None) is quantizer:
                segment = layout.segment(index)
                before = _codes(module.weight, quantizer,
                                parent.scale[segment])
                after = _codes(module.weight, quantizer, child.scale[segment])
                changed += int((before != after).sum())
                total += module.weight.numel()
    assert total == monitor.num_weights > 0
    assert share == pytest.approx(changed / total)
    assert 0 < share < 1


def test_old_relative_step_moves_fewer_weights_than_a_level_step(
        block_and_layout):
    block, layout = block_and_layout
    monitor = RoundingLevelMonitor(layout, block)
    parent = layout.read()
    old = [monitor.changed_share(parent, _operators(
        layout, 'relative', seed=s).perturb_scales(parent)) for s in range(5)]
    new = [monitor.changed_share(parent, _operators(
        layout, 'levels', levels=1.0, seed=s).perturb_scales(parent))
        for s in range(5)]
    assert sum(new) > 5 * sum(old)


def test_history_logs_level_changes_and_acceptance(tmp_path):
    _, model, images = quantized_tiny('timm_vit')
    result = EvolutionaryCalibrator(
        SearchConfig.fast(work_dir=str(tmp_path), plots=True,
                          mutation_levels=1.0)).calibrate(model, images)
    for entry in result.history:
        assert 0.0 <= entry['accepted_rate'] <= 1.0
        assert 0.0 <= entry['level_change_share'] <= 1.0
    assert any(entry['level_change_share'] > 0 for entry in result.history)
    assert (tmp_path / 'search_dynamics.png').stat().st_size > 0
    # A child accepted into a full population of fitness values means the
    # best or the worst changed: acceptance is consistent with the log.
    assert any(entry['accepted_rate'] > 0 for entry in result.history)
