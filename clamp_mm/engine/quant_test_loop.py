"""The quantization test loop: CLAMP-quantize, then evaluate as the task does.

``test_cfg = dict(type='clamp_mm.QuantTestLoop', ...)`` in any mmpretrain,
mmdet or mmseg config turns ``runner.test()`` into: load the float weights
(the Runner's ``load_from``), synthesize calibration images, calibrate the
quantizers on them, run the evolutionary calibrator with cyclic adaptation,
save the quantized model and the images to the work dir, then evaluate with
the config's own evaluator (Accuracy, CocoMetric, IoUMetric) unchanged,
optionally beside the FP model.
"""
import copy
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine import dist
from mmengine.model import is_model_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import TestLoop
from torch import nn
from torch.utils.data import DataLoader

from clamp_mm.models.base import ModelAdapter, find_adapter
from clamp_mm.quant import QuantRecipe, quantize, set_quant_mode
from clamp_mm.quant.report import model_cost, quant_summary
from clamp_mm.registry import CALIBRATORS, GENERATORS, LOOPS
from clamp_mm.synth.base_generator import resolve_resolution
from .checkpoint_check import check_checkpoint_fits
from .distributed import broadcast_quantization
from .quantized_checkpoint import load_quantized, save_quantized
from .results_table import (combine_metrics, side_by_side_table,
                            write_results)
from .synthetic_data import synthesize
from .target_module import resolve_target

#: Names of the files the loop writes in the work dir.
QUANTIZED_MODEL_FILE = 'quantized_model.pth'
SYNTHETIC_IMAGES_FILE = 'synthetic_images.pth'
SEARCH_DIR = 'search'
#: The per-quantizer table, written to the run's log dir.
SUMMARY_FILE = 'quant_summary.txt'


def build_in_scope(registry, cfg: dict):
    """Build ``cfg`` from a clamp_mm registry with clamp_mm as the default
    scope (during a run the default scope is the task's, which these
    parentless registries do not know)."""
    with DefaultScope.overwrite_default_scope('clamp_mm'):
        return registry.build(cfg)


@LOOPS.register_module()
class QuantTestLoop(TestLoop):
    """Quantize the float model with CLAMP-ViT, then test it.

    Everything that needs the loaded float weights happens in :meth:`run`
    (the Runner loads ``load_from`` after building the loop). Besides the
    standard hook points the loop calls two of its own, so hooks can look
    at the intermediate results: ``after_synthesis(runner, images,
    adapter)`` and ``after_quantization(runner, model, adapter, images,
    search_result)``.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): Test dataloader or its config.
        evaluator (Evaluator | dict | list): The task's evaluator.
        fp16 (bool): Test with fp16 autocast. Defaults to False.
        recipe (dict, optional): A :class:`clamp_mm.quant.QuantRecipe` as a
            dict. Defaults to None (``QuantRecipe()``: W4/A8).
        generator (dict): Generator config for ``GENERATORS``.
            Defaults to ``dict(type='clamp_mm.ClampGenerator')``.
        num_images (int): Synthetic calibration images. Defaults to 32.
        resolution (Sequence[int], optional): (H, W) of the synthetic images.
            Defaults to None (the adapter's input size; set it for
            detectors and segmentors).
        calibrator (dict, optional): Calibrator config for ``CALIBRATORS``;
            None calibrates with the observers only (no search).
            Defaults to ``dict(type='clamp_mm.EvolutionaryCalibrator')``.
        calibration_batch_size (int): Images per forward when the observers
            are calibrated without a calibrator. Defaults to 8.
        evaluate_fp (bool): Also evaluate the FP model, first, and log both
            side by side. Defaults to False.
        load_quantized (str, optional): A quantized checkpoint written by an
            earlier run: restore it and evaluate, without synthesizing or
            calibrating. Defaults to None.
        save_quantized (bool): Write the quantized model and the synthetic
            images to the work dir. Defaults to True.
        quantized_module (str, optional): Dotted name of the sub-module
            handed to the adapter (``''``: the whole model). Defaults to
            None: the whole model if an adapter understands it, else its
            first direct child one does (the timm model inside mmpretrain's
            TimmClassifier).
        strict_checkpoint (bool): Refuse a float checkpoint that does not
            fit the model exactly. Defaults to True.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator,
                 fp16: bool = False,
                 recipe: Optional[dict] = None,
                 generator: Optional[dict] = None,
                 num_images: int = 32,
                 resolution: Optional[Sequence[int]] = None,
                 calibrator: Optional[dict] = dict(
                     type='clamp_mm.EvolutionaryCalibrator'),
                 calibration_batch_size: int = 8,
                 evaluate_fp: bool = False,
                 load_quantized: Optional[str] = None,
                 save_quantized: bool = True,
                 quantized_module: Optional[str] = None,
                 strict_checkpoint: bool = True) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        # Validated here, before any weight is loaded or any file written.
        self.recipe = QuantRecipe.from_dict(recipe or {})
        if not isinstance(num_images, int) or num_images < 1:
            raise ValueError(f'num_images must be an int >= 1, got '
                             f'{num_images!r}')
        if calibration_batch_size < 1:
            raise ValueError('calibration_batch_size must be >= 1, got '
                             f'{calibration_batch_size!r}')
        self.num_images = num_images
        self.resolution = resolution
        self.calibration_batch_size = calibration_batch_size
        self.evaluate_fp = evaluate_fp
        self.load_quantized = load_quantized
        self.save_quantized = save_quantized
        self.quantized_module = quantized_module
        self.strict_checkpoint = strict_checkpoint
        self.generator = build_in_scope(
            GENERATORS, generator or dict(type='clamp_mm.ClampGenerator'))
        self.calibrator = None
        if calibrator is not None:
            calibrator = copy.deepcopy(dict(calibrator))
            # Only rank 0 keeps search state: the ranks search the same
            # images and would otherwise write the same files at once.
            if dist.get_rank() == 0:
                calibrator.setdefault('work_dir',
                                      osp.join(runner.work_dir, SEARCH_DIR))
            else:
                calibrator['work_dir'] = None
            self.calibrator = build_in_scope(CALIBRATORS, calibrator)
        # Set by a mixed-precision search: the average bits it reached.
        self._label: Optional[str] = None
        #: Metrics of the last run: ``{'fp': ..., 'quantized': ...}``.
        self.results: Dict[str, Optional[dict]] = dict(fp=None,
                                                        quantized=None)

    # ---- the model ---------------------------------------------------------
    @property
    def model(self) -> nn.Module:
        """The runner's model without its DDP wrapper."""
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    def _target(self) -> Tuple[str, nn.Module, ModelAdapter]:
        """Name, module and adapter of what is quantized."""
        return resolve_target(self.model, self.quantized_module)

    # ---- run ---------------------------------------------------------------
    def run(self) -> dict:
        """Quantize (or restore), evaluate, log; returns the metrics.

        Returns:
            dict: The quantized model's metrics under the evaluator's keys;
            with ``evaluate_fp`` the FP model's too, under ``'fp/<key>'``.
        """
        self.runner.call_hook('before_test')
        self.runner.model.eval()
        fp_metrics = None
        extra = {}
        if self.load_quantized:
            content = load_quantized(self.model, self.load_quantized)
            self.recipe = QuantRecipe.from_dict(content['recipe'])
            self.runner.logger.info(
                f'restored the quantized model from {self.load_quantized}')
            if self.evaluate_fp:
                # The restored file holds the float weights: FP is the same
                # model with its quantizers off.
                set_quant_mode(self.model, 'off')
                fp_metrics = self._evaluate('FP')
                set_quant_mode(self.model, 'quantize')
        else:
            self._check_float_weights()
            if self.evaluate_fp:
                fp_metrics = self._evaluate('FP')
            extra = self._quantize()
        extra['cost'] = self._cost()
        metrics = self._evaluate(self.quantized_label)
        self.results = dict(fp=fp_metrics, quantized=metrics)
        self.runner.logger.info(
            'results:\n' + side_by_side_table(metrics, fp_metrics,
                                              self.quantized_label))
        if dist.is_main_process():
            write_results(self.runner.work_dir, metrics, fp_metrics,
                          dict(recipe=self.recipe.to_dict(), **extra))
        metrics = combine_metrics(metrics, fp_metrics)
        self.runner.call_hook('after_test')
        return metrics

    @property
    def quantized_label(self) -> str:
        """Name of the quantized model in logs and tables."""
        if self._label:
            return self._label
        if self.load_quantized:
            return 'quantized'
        return f'W{self.recipe.weight_bits}/A{self.recipe.act_bits}'

    def _cost(self) -> dict:
        """Size and BOPs of the quantized model (one image at the
        calibration resolution), logged with the quantization summary."""
        _, target, adapter = self._target()
        height, width = resolve_resolution(adapter, self.resolution)
        device = next(target.parameters()).device
        image = torch.zeros(1, 3, height, width, device=device)
        with torch.no_grad():
            cost = model_cost(target, image,
                              lambda model, x: adapter.forward_images(x))
        summary_file = osp.join(self.runner.log_dir, SUMMARY_FILE)
        if dist.is_main_process():
            with open(summary_file, 'w') as file:
                file.write(quant_summary(target) + '\n')
        self.runner.logger.info(f'cost per {height}x{width} image: {cost}; '
                                f'every quantizer listed in {summary_file}')
        return dict(size_mb=cost.size_mb, float_size_mb=cost.float_size_mb,
                    gbops=cost.bops / 1e9,
                    float_gbops=cost.float_bops / 1e9,
                    resolution=[height, width])

    def _check_float_weights(self) -> None:
        checkpoint = getattr(self.runner, '_load_from', None)
        if checkpoint is None:
            self.runner.logger.warning(
                'no load_from: quantizing the randomly initialised model')
        elif self.strict_checkpoint:
            check_checkpoint_fits(self.model, checkpoint)

    def _quantize(self) -> dict:
        """Synthesize, calibrate, search, broadcast, save. Returns extras
        for the results file."""
        target_name, target, adapter = self._target()
        work_dir = self.runner.work_dir
        dataset, reused = synthesize(
            self.generator, adapter, self.num_images, self.resolution,
            osp.join(work_dir, SYNTHETIC_IMAGES_FILE)
            if self.save_quantized else None)
        #: The calibration set of the last run, with its provenance.
        self.synthetic_dataset = dataset
        device = next(target.parameters()).device
        images = dataset.images.to(device)
        self.runner.call_hook('after_synthesis', images=images,
                              adapter=adapter)
        search_result = None
        if not reused and self.calibrator is not None and \
                self.calibrator.config.resume:
            # Search state left by an earlier run belongs to other images:
            # start afresh (the state is rewritten as the search goes).
            self.calibrator.config = self.calibrator.config.replace(
                resume=False)
        if self.calibrator is None:
            quantize(target, self.recipe,
                     lambda model: self._calibration_forward(
                         find_adapter(model), images))
        else:
            search_result = self.calibrator.calibrate(
                target, images, refresh_fn=self.generator,
                recipe=self.recipe)
        # The searches of the ranks may still differ by floating-point
        # noise (GPU kernels): rank 0's parameters win everywhere.
        broadcast_quantization(self.model)
        set_quant_mode(self.model, 'quantize')
        extra = {}
        if search_result is not None:
            extra['search'] = dict(finished=search_result.finished,
                                   metrics=search_result.metrics)
            if self.calibrator.config.mixed_precision is not None:
                metrics = search_result.metrics
                extra['search']['bits'] = search_result.bits
                self._label = (f'W{metrics["avg_weight_bits"]:.1f}/'
                               f'A{metrics["avg_activation_bits"]:.1f}')
        if self.save_quantized and dist.is_main_process():
            path = save_quantized(
                self.model, osp.join(work_dir, QUANTIZED_MODEL_FILE),
                self.recipe, target_name,
                meta=dict(float_checkpoint=str(
                    getattr(self.runner, '_load_from', None)), **extra))
            self.runner.logger.info(f'saved the quantized model to {path}')
        self.runner.call_hook('after_quantization', model=self.model,
                              adapter=find_adapter(target),
                              images=images,
                              search_result=search_result)
        return extra

    def _calibration_forward(self, adapter: ModelAdapter,
                             images: torch.Tensor) -> None:
        for batch in images.split(self.calibration_batch_size):
            adapter.forward_images(batch)

    # ---- evaluation --------------------------------------------------------
    def _evaluate(self, label: str) -> dict:
        """One pass of the task's evaluator over the test set."""
        self.runner.logger.info(f'evaluating the {label} model')
        self.runner.call_hook('before_test_epoch')
        self.test_loss.clear()
        for index, data_batch in enumerate(self.dataloader):
            self.run_iter(index, data_batch)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        return metrics


def quant_loop_fields() -> List[str]:
    """The config fields :class:`QuantTestLoop` accepts beyond TestLoop's."""
    import inspect
    names = list(inspect.signature(QuantTestLoop.__init__).parameters)
    return [name for name in names if name not in (
        'self', 'runner', 'dataloader', 'evaluator', 'fp16')]
