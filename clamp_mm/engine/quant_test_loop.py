"""The quantization test loop: CLAMP-quantize, then evaluate as the task does.

``test_cfg = dict(type='clamp_mm.QuantTestLoop', ...)`` in any mmpretrain,
mmdet or mmseg config turns ``runner.test()`` into: load the float weights
(the Runner's ``load_from``), run :func:`clamp_mm.quantize_model` on the
module to quantize (synthesize, calibrate, search with cyclic adaptation),
save the quantized model and the images to the work dir, then evaluate with
the config's own evaluator (Accuracy, CocoMetric, IoUMetric) unchanged,
optionally beside the FP model. The loop is only the Runner glue: the
pipeline itself lives in :mod:`clamp_mm.pipeline`.
"""
import os.path as osp
from typing import Dict, List, Optional, Tuple, Union

from mmengine import dist
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop
from torch import nn
from torch.utils.data import DataLoader

from clamp_mm.models.base import ModelAdapter, find_adapter
from clamp_mm.pipeline import (QuantLoopConfig, build_calibrator,
                               build_in_scope, cost_report, quantize_model)
from clamp_mm.pipeline.clamp_pipeline import (SEARCH_DIR,
                                              SYNTHETIC_IMAGES_FILE)
from clamp_mm.pipeline.quantized_checkpoint import (load_quantized,
                                                    save_quantized)
from clamp_mm.quant import QuantRecipe, set_quant_mode
from clamp_mm.quant.report import quant_summary
from clamp_mm.registry import GENERATORS, LOOPS
from clamp_mm.pipeline.distributed import collect_results_under
from clamp_mm.pipeline.run_seed import configured_run_seed, seeded
from .checkpoint_check import check_checkpoint_fits, check_finite_weights
from .coco_box_check import warn_bad_coco_boxes
from .results_table import (combine_metrics, side_by_side_table,
                            write_results)
from .target_module import resolve_target

#: Name of the file the loop writes in the work dir (the others:
#: ``SYNTHETIC_IMAGES_FILE``, ``SEARCH_DIR``, from clamp_mm.pipeline).
QUANTIZED_MODEL_FILE = 'quantized_model.pth'
#: The per-quantizer table, written to the run's log dir.
SUMMARY_FILE = 'quant_summary.txt'

__all__ = [
    'QUANTIZED_MODEL_FILE', 'QuantTestLoop', 'SEARCH_DIR', 'SUMMARY_FILE',
    'SYNTHETIC_IMAGES_FILE', 'build_in_scope', 'quant_loop_fields'
]


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
        **fields: The fields of :class:`clamp_mm.pipeline.QuantLoopConfig`
            (recipe, generator, num_images, resolution, calibrator,
            calibration_batch_size, evaluate_fp, load_quantized,
            save_quantized, quantized_module, strict_checkpoint), with its
            defaults.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator,
                 fp16: bool = False,
                 **fields) -> None:
        super().__init__(runner, dataloader, evaluator, fp16)
        collect_results_under(self.evaluator, runner.work_dir)
        # Validated here, before any weight is loaded or any file written.
        #: The run's typed config.
        self.config = QuantLoopConfig.from_dict(fields)
        self.recipe = self.config.recipe
        # randomness.seed seeds the components that set no seed of their own.
        self.run_seed = configured_run_seed(getattr(runner, 'cfg', None))
        self.generator = build_in_scope(GENERATORS, seeded(
            self.config.generator, self.run_seed))
        self.calibrator = build_calibrator(
            seeded(self.config.calibrator, self.run_seed), runner.work_dir)
        # Set by a mixed-precision search: the average bits it reached.
        self._label: Optional[str] = None
        #: Metrics of the last run: ``{'fp': ..., 'quantized': ...}``.
        self.results: Dict[str, Optional[dict]] = dict(fp=None,
                                                        quantized=None)

    def __getattr__(self, name: str):
        # The config's fields read as the loop's attributes, as before the
        # typed config (``loop.num_images``, ``loop.evaluate_fp`` ...).
        config = self.__dict__.get('config')
        if config is not None and name in QuantLoopConfig.field_names():
            return getattr(config, name)
        raise AttributeError(f'{type(self).__name__!r} object has no '
                             f'attribute {name!r}')

    # ---- the model ---------------------------------------------------------
    @property
    def model(self) -> nn.Module:
        """The runner's model without its DDP wrapper."""
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    def _target(self) -> Tuple[str, nn.Module, ModelAdapter]:
        """Name, module and adapter of what is quantized."""
        return resolve_target(self.model, self.config.quantized_module)

    # ---- run ---------------------------------------------------------------
    def run(self) -> dict:
        """Quantize (or restore), evaluate, log; returns the metrics.

        Returns:
            dict: The quantized model's metrics under the evaluator's keys;
            with ``evaluate_fp`` the FP model's too, under ``'fp/<key>'``.
        """
        self.runner.call_hook('before_test')
        self.runner.model.eval()
        warn_bad_coco_boxes(self.dataloader.dataset, self.runner.logger)
        fp_metrics = None
        extra = {}
        if self.config.load_quantized:
            content = load_quantized(self.model, self.config.load_quantized)
            self.recipe = QuantRecipe.from_dict(content['recipe'])
            self.runner.logger.info('restored the quantized model from '
                                    f'{self.config.load_quantized}')
            if self.config.evaluate_fp:
                # The restored file holds the float weights: FP is the same
                # model with its quantizers off.
                set_quant_mode(self.model, 'off')
                fp_metrics = self._evaluate('FP')
                set_quant_mode(self.model, 'quantize')
        else:
            self._check_float_weights()
            if self.config.evaluate_fp:
                fp_metrics = self._evaluate('FP')
            extra = self._quantize()
        if 'cost' not in extra:
            _, target, adapter = self._target()
            extra['cost'] = cost_report(target, adapter,
                                        self.config.resolution)
        self._log_cost(extra['cost'])
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
        if self.config.load_quantized:
            return 'quantized'
        return f'W{self.recipe.weight_bits}/A{self.recipe.act_bits}'

    def _log_cost(self, cost: dict) -> None:
        """Log the size and BOPs of the quantized model (one image at the
        calibration resolution) and write the quantization summary."""
        _, target, _ = self._target()
        summary_file = osp.join(self.runner.log_dir, SUMMARY_FILE)
        if dist.is_main_process():
            with open(summary_file, 'w') as file:
                file.write(quant_summary(target) + '\n')
        height, width = cost['resolution']
        self.runner.logger.info(
            f'cost per {height}x{width} image: {cost}; every quantizer '
            f'listed in {summary_file}')

    def _check_float_weights(self) -> None:
        checkpoint = getattr(self.runner, '_load_from', None)
        if checkpoint is None:
            self.runner.logger.warning(
                'no load_from: quantizing the randomly initialised model')
        elif self.config.strict_checkpoint:
            check_checkpoint_fits(self.model, checkpoint)
        if checkpoint is not None:
            check_finite_weights(self.model.state_dict(),
                                 f'the model loaded from {checkpoint}')

    def _quantize(self) -> dict:
        """Run the pipeline on the target, save. Returns extras for the
        results file."""
        target_name, target, adapter = self._target()
        work_dir = self.runner.work_dir
        result = quantize_model(
            target, self.recipe, self.generator, self.calibrator,
            num_images=self.config.num_images,
            resolution=self.config.resolution,
            calibration_batch_size=self.config.calibration_batch_size,
            work_dir=work_dir if self.config.save_quantized else None,
            adapter=adapter,
            on_images=lambda images, adapter: self.runner.call_hook(
                'after_synthesis', images=images, adapter=adapter),
            run_identity=dict(
                quantized_module=self.config.quantized_module,
                checkpoint=getattr(self.runner, '_load_from', None),
                run_seed=self.run_seed))
        set_quant_mode(self.model, 'quantize')
        extra = {}
        if result.search is not None:
            extra['search'] = result.search_record()
        if result.mixed_precision:
            self._label = result.label
        if self.config.save_quantized and dist.is_main_process():
            path = save_quantized(
                self.model, osp.join(work_dir, QUANTIZED_MODEL_FILE),
                self.recipe, target_name,
                meta=dict(float_checkpoint=str(
                    getattr(self.runner, '_load_from', None)), **extra))
            self.runner.logger.info(f'saved the quantized model to {path}')
        self.runner.call_hook('after_quantization', model=self.model,
                              adapter=find_adapter(target),
                              images=result.images,
                              search_result=result.search)
        # The cost of the quantized model, measured by the pipeline.
        extra['cost'] = result.cost
        return extra

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
    return list(QuantLoopConfig.field_names())
