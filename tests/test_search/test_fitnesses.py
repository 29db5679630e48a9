"""The selectable fitnesses, the rest-of-network runner and the diagnostic."""
import copy

import pytest
import torch

from clamp_mm.models import find_adapter
from clamp_mm.quant import set_quant_mode
from clamp_mm.search import EvolutionaryCalibrator, SearchConfig
from clamp_mm.search.fitness_terms import (FITNESSES, get_fitness,
                                           output_divergence, token_terms)
from clamp_mm.search.rest_of_network import RestOfNetwork
from clamp_mm.search.search_run import SearchRun
from search_models import FACTORIES, quantized_tiny


def test_registry_names_every_fitness_and_rejects_unknown_ones():
    assert {'info_nce', 'mse', 'cosine', 'output_kl', 'info_nce_output_kl',
            'mse_output_kl'} <= set(FITNESSES)
    assert get_fitness('output_kl').needs_output
    assert not get_fitness('mse').needs_output
    with pytest.raises(ValueError, match=r"one of \(.*'info_nce'.*got 'x'"):
        get_fitness('x')


def test_token_terms_and_output_divergence():
    grid = torch.randn(2, 3, 3, 8)
    assert token_terms(grid, grid) == pytest.approx(dict(mse=0.0,
                                                         cosine=0.0),
                                                    abs=1e-6)
    # Scaling keeps every direction (cosine 0) but not the magnitude.
    scaled = token_terms(2 * grid, grid)
    assert scaled['cosine'] == pytest.approx(0.0, abs=1e-6)
    assert scaled['mse'] == pytest.approx(1.0, rel=1e-5)
    logits = torch.randn(4, 10)
    assert output_divergence(logits, logits) == pytest.approx(0.0, abs=1e-6)
    reference = torch.nn.functional.kl_div(
        logits.log_softmax(-1), (logits * 3).softmax(-1),
        reduction='batchmean')
    assert output_divergence(logits, 3 * logits) == pytest.approx(
        float(reference), rel=1e-5)
    maps = [torch.randn(2, 4, 5, 5), torch.randn(2, 8, 3, 3)]
    assert output_divergence([m * 1.5 for m in maps], maps) == pytest.approx(
        0.25, rel=1e-5)


@pytest.mark.parametrize('family', sorted(FACTORIES))
def test_rest_of_network_reproduces_the_model(family):
    _, model, images = quantized_tiny(family)
    adapter = find_adapter(model)
    with torch.no_grad():
        expected = adapter.forward_images(images)
    blocks = adapter.blocks()
    name, block = blocks[len(blocks) // 2]
    rest = RestOfNetwork(lambda: adapter.forward_images(images), blocks,
                         name)
    recorded = {}
    handle = block.register_forward_hook(
        lambda module, args, output: recorded.setdefault('out', output))
    with torch.no_grad():
        adapter.forward_images(images)
    handle.remove()

    def flat(output):
        return [output] if isinstance(output, torch.Tensor) else list(output)

    for want, got in zip(flat(expected), flat(rest(recorded['out']))):
        assert torch.allclose(want, got, atol=1e-6)
    # A different block output gives a different model output, and the
    # blocks are left unpatched afterwards.
    changed = (recorded['out'] * 1.5 if isinstance(recorded['out'],
                                                   torch.Tensor) else
               type(recorded['out'])(
                   [recorded['out'][0] * 1.5] + list(recorded['out'][1:])))
    differs = [not torch.allclose(w, g) for w, g in
               zip(flat(expected), flat(rest(changed)))]
    assert any(differs)
    assert all('forward' not in module.__dict__ for _, module in blocks)


@pytest.mark.parametrize('family', ['timm_vit', 'timm_swin', 'mmdet_swin'])
def test_output_fitness_with_own_input_equals_the_whole_model(family):
    _, model, images = quantized_tiny(family)
    run = SearchRun(SearchConfig.fast(fitness='output_kl',
                                      block_input='quantized'), model, images)
    run._fresh_start()
    adapter = find_adapter(model)
    fp_model = set_quant_mode(copy.deepcopy(model), 'off')
    with torch.no_grad():
        fp_output = find_adapter(fp_model).forward_images(images)
    for name, block in run.blocks:
        scorer = run.make_scorer(name, block)
        layout = run.layouts[name]
        genome = layout.read()
        genome.scale = genome.scale * 1.1
        local = scorer(genome)
        with torch.no_grad():
            reference = output_divergence(adapter.forward_images(images),
                                          fp_output)
        assert local == pytest.approx(reference, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize('fitness', sorted(FITNESSES))
def test_search_runs_and_resumes_with_every_fitness(tmp_path, fitness):
    float_model, _, images = quantized_tiny('timm_vit')

    def run(work_dir, stop_after=None):
        model = copy.deepcopy(float_model)
        config = SearchConfig.fast(passes=2, cycles=1, children_per_cycle=2,
                                   fitness=fitness, work_dir=str(work_dir),
                                   stop_after_visits=stop_after)
        result = EvolutionaryCalibrator(config).calibrate(
            model, images, recipe=dict(weight_bits=4, act_bits=8))
        return [buffer.clone() for _, buffer in
                sorted(model.named_buffers(), key=lambda item: item[0])
                ], result

    whole, expected = run(tmp_path / 'whole')
    run(tmp_path / 'parts', stop_after=2)
    resumed, result = run(tmp_path / 'parts')
    assert expected.finished and result.finished
    assert all(torch.equal(a, b) for a, b in zip(whole, resumed))
    assert [e['best'] for e in expected.history] == [
        e['best'] for e in result.history]
    assert all(torch.isfinite(torch.tensor(v))
               for v in expected.best_fitness.values())
