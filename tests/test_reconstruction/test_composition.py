"""The reconstruction inside the pipeline: quantize_model, a sequence with
the evolutionary search, a quantized checkpoint that restores it."""
import copy

import torch

import clamp_mm
from clamp_mm.pipeline import load_quantized, save_quantized
from clamp_mm.quant import QuantRecipe
from reconstruction_models import W4A4, build_tiny

RECONSTRUCTION = dict(type='clamp_mm.BlockReconstructionCalibrator',
                      iterations=10, progress_bar=False, plots=True,
                      log_interval=5)


def _images(size, count=4):
    return torch.randn(count, 3, *size,
                       generator=torch.Generator().manual_seed(0))


def test_quantize_model_runs_the_reconstruction(tmp_path):
    model, size = build_tiny('timm_vit')
    result = clamp_mm.quantize_model(model, W4A4, calibrator=RECONSTRUCTION,
                                     images=_images(size),
                                     work_dir=str(tmp_path))
    assert result.search.finished
    assert result.search_record()['metrics']['avg_weight_bits'] == 4.0
    search_dir = tmp_path / 'search'
    assert (search_dir / 'search_state.pth').is_file()
    assert (search_dir / 'reconstruction_loss.png').is_file()
    assert (search_dir / 'reconstruction_result.json').is_file()


def test_sequence_reconstructs_then_searches(tmp_path):
    model, size = build_tiny('timm_vit')
    calibrator = dict(type='clamp_mm.SequentialCalibrator', steps=[
        dict(RECONSTRUCTION, plots=False),
        dict(type='clamp_mm.EvolutionaryCalibrator', population_size=3,
             tournament_size=2, passes=1, cycles=1, children_per_cycle=2,
             progress_bar=False, plots=False)])
    result = clamp_mm.quantize_model(model, W4A4, calibrator=calibrator,
                                     images=_images(size),
                                     work_dir=str(tmp_path))
    steps = result.search.steps
    assert [type(s).__name__ for s in steps] == ['ReconstructionResult',
                                                  'SearchResult']
    assert result.search.finished
    assert 'history' in result.search.summary()
    assert (tmp_path / 'search' / '0_BlockReconstructionCalibrator' /
            'search_state.pth').is_file()
    assert (tmp_path / 'search' / '1_EvolutionaryCalibrator' /
            'search_state.pth').is_file()


def test_quantized_checkpoint_restores_the_learned_rounding(tmp_path):
    model, size = build_tiny('timm_vit')
    fresh = copy.deepcopy(model)
    images = _images(size)
    clamp_mm.quantize_model(model, W4A4, calibrator=RECONSTRUCTION,
                            images=images)
    path = save_quantized(model, str(tmp_path / 'q.pth'),
                          QuantRecipe.from_dict(W4A4))
    load_quantized(fresh, path)
    with torch.no_grad():
        assert torch.equal(fresh(images), model(images))
