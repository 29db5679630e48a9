"""Genome layout, mutation and crossover on a real quantized block."""
import pytest
import torch

from clamp_mm.quant import iter_quantizers
from clamp_mm.search.genome import (GenomeLayout, GenomeOperators,
                                    mutation_range)
from search_models import quantized_tiny


@pytest.fixture
def block_quantizers():
    _, model, _ = quantized_tiny('timm_vit')
    return [(name, q) for name, q in iter_quantizers(model.blocks[0],
                                                     prefix='blocks.0')
            if q.is_calibrated]


def _operators(layout, seed=0, bit_prob=0.0):
    return GenomeOperators(layout, torch.Generator().manual_seed(seed), 4,
                           8, 1e-3, 1e-4, bit_prob)


def test_read_write_round_trip(block_quantizers):
    layout = GenomeLayout(block_quantizers)
    genome = layout.read()
    assert genome.scale.numel() == sum(q.scale.numel()
                                       for _, q in block_quantizers)
    changed = genome.clone()
    changed.scale *= 2
    layout.write(changed)
    assert torch.equal(layout.read().scale, changed.scale)
    layout.write(genome)
    for (_, quantizer), chunk in zip(block_quantizers,
                                     genome.scale.split(layout.numels)):
        assert torch.equal(quantizer.scale.flatten(), chunk)


def test_mutation_stays_within_its_range(block_quantizers):
    layout = GenomeLayout(block_quantizers)
    parent = layout.read()
    child = _operators(layout).perturb_scales(parent)
    ratio = child.scale / parent.scale - 1
    expected = layout.expand(
        torch.tensor([mutation_range(int(b), 4, 8, 1e-3, 1e-4)
                      for b in parent.bits]))
    assert bool((ratio.abs() <= expected * (1 + 1e-5)).all())
    assert bool((ratio != 0).any())
    assert torch.equal(child.zero_point, parent.zero_point)
    assert mutation_range(4, 4, 8, 1e-3, 1e-4) == 1e-3
    assert mutation_range(8, 4, 8, 1e-3, 1e-4) == 1e-4
    assert 1e-4 < mutation_range(6, 4, 8, 1e-3, 1e-4) < 1e-3


def test_bit_mutation_restarts_from_the_observer_scale(block_quantizers):
    layout = GenomeLayout(block_quantizers, weight_bit_choices=(3, 4, 5),
                          activation_bit_choices=())
    parent = layout.read()
    child = _operators(layout, bit_prob=1.0).mutate_bits(parent.clone())
    changed = [i for i in range(layout.num_quantizers)
               if int(child.bits[i]) != int(parent.bits[i])]
    assert changed, 'every weight quantizer was asked to change'
    for index in changed:
        assert layout.is_weight[index]
        new_bits = int(child.bits[index])
        observer_scale, observer_zero_point = (
            layout.observer_solutions[index][new_bits])
        segment = layout.segment(index)
        # The parent was the observer solution, so the ratio is exactly 1.
        assert torch.allclose(child.scale[segment], observer_scale)
        assert torch.equal(child.zero_point[segment], observer_zero_point)
    activation = [i for i, w in enumerate(layout.is_weight) if not w]
    assert all(int(child.bits[i]) == int(parent.bits[i]) for i in activation)


def test_crossover_keeps_quantizers_consistent(block_quantizers):
    layout = GenomeLayout(block_quantizers, weight_bit_choices=(3, 4, 5))
    operators = _operators(layout, bit_prob=1.0)
    first = layout.read()
    second = operators.mutate_bits(operators.perturb_scales(first))
    child = operators.crossover(first, second)
    for index in range(layout.num_quantizers):
        segment = layout.segment(index)
        parent = first if int(child.bits[index]) == int(
            first.bits[index]) else second
        if int(first.bits[index]) != int(second.bits[index]):
            assert torch.equal(child.scale[segment], parent.scale[segment])
            assert torch.equal(child.zero_point[segment],
                               parent.zero_point[segment])
        else:
            from_either = ((child.scale[segment] == first.scale[segment]) |
                           (child.scale[segment] == second.scale[segment]))
            assert bool(from_either.all())


def test_bits_outside_choices_are_rejected(block_quantizers):
    with pytest.raises(ValueError, match='allowed choices'):
        GenomeLayout(block_quantizers, weight_bit_choices=(6, 7))
