"""End-to-end runs of QuantTestLoop on a tiny ViT classifier, on CPU."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.testing import RunnerTestCase

import tiny_task
from clamp_mm.engine import (QUANTIZED_MODEL_FILE, RESULTS_FILE,
                             SYNTHETIC_IMAGES_FILE, CheckpointMismatchError)
from clamp_mm.quant import iter_quantizers, set_quant_mode

torch.set_num_threads(1)


class TestQuantTestLoop(RunnerTestCase):

    def setUp(self) -> None:
        super().setUp()
        tiny_task.register()
        self.checkpoint, self.label_file = tiny_task.write_float_checkpoint(
            self.temp_dir.name)
        self.work_dir = osp.join(self.temp_dir.name, 'work')

    def build(self, work_dir=None, checkpoint='default', **loop_overrides):
        checkpoint = self.checkpoint if checkpoint == 'default' else \
            checkpoint
        cfg = Config(
            tiny_task.tiny_runner_cfg(work_dir or self.work_dir,
                                      self.label_file, checkpoint,
                                      **loop_overrides))
        return self.build_runner(cfg)

    @staticmethod
    def logits(runner) -> torch.Tensor:
        with torch.no_grad():
            return runner.model.classifier(tiny_task.test_images())

    def test_quantizes_and_evaluates_fp_beside_quantized(self):
        runner = self.build(evaluate_fp=True)
        metrics = runner.test()

        # The FP pass ran on the loaded checkpoint: the labels are its own
        # predictions, so it scores exactly 1.
        self.assertEqual(metrics['fp/tiny/top1'], 1.0)
        self.assertIn('tiny/top1', metrics)
        self.assertEqual(runner.test_loop.results['fp'],
                         {'tiny/top1': 1.0})
        # The quantized pass ran with active quantizers: outputs move.
        quantized = self.logits(runner)
        set_quant_mode(runner.model, 'off')
        self.assertFalse(torch.allclose(quantized, self.logits(runner)))

        with open(osp.join(self.work_dir, RESULTS_FILE)) as file:
            saved = json.load(file)
        self.assertEqual(saved['fp'], {'tiny/top1': 1.0})
        self.assertEqual(saved['quantized'],
                         {'tiny/top1': metrics['tiny/top1']})
        self.assertEqual(saved['recipe']['weight_bits'], 4)
        self.assertIn('search', saved)
        for name in (QUANTIZED_MODEL_FILE, SYNTHETIC_IMAGES_FILE):
            self.assertTrue(osp.isfile(osp.join(self.work_dir, name)), name)

    def test_reload_gives_identical_outputs_without_calibrating(self):
        first = self.build()
        first_metrics = first.test()
        expected = self.logits(first)
        saved = osp.join(self.work_dir, QUANTIZED_MODEL_FILE)

        # A fresh runner without float weights: everything comes from the
        # quantized file; a generator call would mean recalibration.
        second = self.build(
            work_dir=osp.join(self.temp_dir.name, 'reload'),
            checkpoint=None, load_quantized=saved)
        second.test_loop.generator.generate = _forbidden
        second_metrics = second.test()
        self.assertTrue(torch.equal(expected, self.logits(second)))
        self.assertEqual(first_metrics, second_metrics)
        bits = {n: q.bits for n, q in iter_quantizers(second.model)}
        self.assertEqual(bits,
                         {n: q.bits for n, q in iter_quantizers(first.model)})

    def test_synthetic_images_are_reused_by_a_rerun(self):
        self.build(calibrator=None).test()
        path = osp.join(self.work_dir, SYNTHETIC_IMAGES_FILE)
        images = torch.load(path, weights_only=True)['images']
        rerun = self.build(calibrator=None)
        rerun.test_loop.generator.generate = _forbidden
        rerun.test()
        self.assertTrue(
            torch.equal(images,
                        torch.load(path, weights_only=True)['images']))

    def test_observer_only_calibration_without_search(self):
        runner = self.build(calibrator=None, evaluate_fp=True)
        metrics = runner.test()
        self.assertEqual(metrics['fp/tiny/top1'], 1.0)
        self.assertFalse(osp.exists(osp.join(self.work_dir, 'search')))
        quantizers = dict(iter_quantizers(runner.model))
        self.assertTrue(quantizers)
        self.assertTrue(all(q.mode == 'quantize' for q in quantizers.values()
                            if q.is_calibrated))

    def test_mixed_precision_reports_the_bits_it_chose(self):
        calibrator = tiny_task.tiny_loop_cfg()['calibrator']
        calibrator['mixed_precision'] = dict(
            weight_bit_choices=(4, 6, 8), avg_weight_bits=6.0)
        runner = self.build(calibrator=calibrator)
        runner.test()
        with open(osp.join(self.work_dir, RESULTS_FILE)) as file:
            search = json.load(file)['search']
        # Names inside the quantized module (the timm ViT).
        self.assertEqual(search['bits'], {
            name: q.bits
            for name, q in iter_quantizers(runner.model.classifier)
        })
        self.assertLessEqual(search['metrics']['avg_weight_bits'], 6.0)
        self.assertRegex(runner.test_loop.quantized_label,
                         r'^W\d\.\d/A\d\.\d$')

    def test_checkpoint_of_another_architecture_is_refused(self):
        other = tiny_task.TinyViTClassifier()
        other.classifier.reset_classifier(tiny_task.NUM_CLASSES + 1)
        path = osp.join(self.temp_dir.name, 'other.pth')
        torch.save(dict(state_dict=other.state_dict()), path)
        runner = self.build(checkpoint=path)
        with self.assertRaisesRegex(CheckpointMismatchError,
                                    'another shape.*head'):
            runner.test()
        self.assertFalse(
            osp.exists(osp.join(self.work_dir, QUANTIZED_MODEL_FILE)))

    def test_bad_recipe_fails_when_the_loop_is_built(self):
        runner = self.build(recipe=dict(weight_bits=9))
        with self.assertRaisesRegex(ValueError, 'weight_bits.*9'):
            runner.test()

    def test_hooks_visualise_images_and_report_token_agreement(self):
        cfg = Config(
            tiny_task.tiny_runner_cfg(self.work_dir, self.label_file,
                                      self.checkpoint, calibrator=None))
        cfg.custom_hooks = [
            dict(type='clamp_mm.SyntheticImageVisualizationHook'),
            dict(type='clamp_mm.TokenAgreementHook'),
        ]
        runner = self.build_runner(cfg)
        runner.test()
        hooks = {type(hook).__name__: hook for hook in runner.hooks}
        written = hooks['SyntheticImageVisualizationHook'].written
        self.assertTrue(osp.getsize(written) > 0)
        layers = hooks['TokenAgreementHook'].layers
        # One entry per transformer block of the tiny ViT.
        self.assertEqual(len(layers), 2)
        for entry in layers:
            self.assertLess(entry['cosine'], 1.0 + 1e-6)
            self.assertGreater(entry['cosine'], 0.0)
        self.assertTrue(
            osp.isfile(osp.join(runner.log_dir, 'token_agreement.json')))


def _forbidden(*args, **kwargs):
    raise AssertionError('the generator was called')


@pytest.mark.parametrize('num_images', [0, 'four'])
def test_loop_rejects_bad_num_images(num_images):
    from clamp_mm.engine.preflight import QuantizeInputError, check_loop_cfg
    cfg = Config(
        dict(test_cfg=tiny_task.tiny_loop_cfg(num_images=num_images)))
    with pytest.raises(QuantizeInputError, match='num_images'):
        check_loop_cfg(cfg)
