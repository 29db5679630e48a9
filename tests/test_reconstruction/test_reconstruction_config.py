"""Options of the block reconstruction: defaults, one-line errors, registry."""
import pytest

from clamp_mm.reconstruction import (BlockReconstructionCalibrator,
                                     ReconstructionConfig)
from clamp_mm.registry import CALIBRATORS


@pytest.mark.parametrize('fields, words', [
    (dict(iterations=-1), 'iterations must be an int >= 0, got -1'),
    (dict(iterations=2.5), 'iterations must be an int >= 0, got 2.5'),
    (dict(drop_prob=1.5), 'drop_prob must be in [0, 1], got 1.5'),
    (dict(drop_prob=-0.1), 'drop_prob must be in [0, 1], got -0.1'),
    (dict(warmup=2), 'warmup must be in [0, 1], got 2'),
    (dict(rounding_lr=0), 'rounding_lr must be a number > 0, got 0'),
    (dict(batch_size=0), 'batch_size must be an int >= 1, got 0'),
    (dict(block_input='float'), "block_input must be one of ('quantized', "
     "'fp'), got 'float'"),
    (dict(rounding_weight=-1), 'rounding_weight must be a number >= 0'),
    (dict(iteration=10), "unknown field(s) ['iteration']"),
])
def test_bad_options_give_one_line_errors(fields, words):
    with pytest.raises(ValueError) as error:
        BlockReconstructionCalibrator(**fields)
    message = str(error.value)
    assert words in message
    assert '\n' not in message


def test_unknown_field_names_the_known_ones():
    with pytest.raises(ValueError, match='expected some of .*drop_prob'):
        ReconstructionConfig.from_fields(dropout=0.5)
    with pytest.raises(ValueError, match="unknown field"):
        BlockReconstructionCalibrator(ReconstructionConfig(), droprate=1)


def test_registry_builds_it_from_a_config():
    calibrator = CALIBRATORS.build(
        dict(type='clamp_mm.BlockReconstructionCalibrator', iterations=7,
             drop_prob=0.0))
    assert isinstance(calibrator, BlockReconstructionCalibrator)
    assert calibrator.config.iterations == 7
    assert calibrator.config.drop_prob == 0.0


def test_fingerprint_ignores_cosmetic_fields():
    a = ReconstructionConfig(work_dir='a', progress_bar=False)
    b = ReconstructionConfig(work_dir='b', plots=False, log_interval=3)
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != ReconstructionConfig(seed=1).fingerprint()


def test_quant_loop_config_accepts_the_calibrator_type():
    from clamp_mm.engine.preflight import check_loop_cfg
    from mmengine.config import Config
    cfg = Config(dict(test_cfg=dict(
        type='clamp_mm.QuantTestLoop',
        calibrator=dict(type='clamp_mm.BlockReconstructionCalibrator',
                        iterations=3))))
    check_loop_cfg(cfg)
    bad = Config(dict(test_cfg=dict(
        type='clamp_mm.QuantTestLoop',
        calibrator=dict(type='clamp_mm.BlockReconstructionCalibrator',
                        drop_prob=2.0))))
    with pytest.raises(Exception, match='drop_prob must be in'):
        check_loop_cfg(bad)


def test_sequence_builds_its_steps():
    calibrator = CALIBRATORS.build(dict(
        type='clamp_mm.SequentialCalibrator', seed=3, steps=[
            dict(type='clamp_mm.BlockReconstructionCalibrator',
                 iterations=2),
            dict(type='clamp_mm.EvolutionaryCalibrator', passes=1)]))
    steps = calibrator.config.steps
    assert [type(s).__name__ for s in steps] == [
        'BlockReconstructionCalibrator', 'EvolutionaryCalibrator']
    assert all(s.config.seed == 3 for s in steps)
    fingerprint = calibrator.config.fingerprint()
    assert fingerprint['steps'][0]['config']['iterations'] == 2
    with pytest.raises(ValueError, match='non-empty list'):
        CALIBRATORS.build(dict(type='clamp_mm.SequentialCalibrator',
                               steps=[]))


def test_project_config_selects_the_calibrator():
    import os.path as osp

    from mmengine.config import Config

    from clamp_mm.pipeline import QuantLoopConfig, build_calibrator
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(osp.join(root, 'configs', 'fmnist_quant',
                                   'vit_fmnist_recon_w4a4.py'))
    loop = QuantLoopConfig.from_dict(cfg.test_cfg)
    calibrator = build_calibrator(loop.calibrator, '/tmp/unused_work_dir')
    assert isinstance(calibrator, BlockReconstructionCalibrator)
    assert calibrator.config.work_dir == '/tmp/unused_work_dir/search'
    assert loop.recipe.act_bits == 4
