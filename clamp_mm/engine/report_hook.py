"""The run report and experiment tracking of a quantization run.

``tools/quantize.py`` adds this hook to every run (``--no-report`` leaves
it out); in a config of one's own::

    custom_hooks = [dict(type='clamp_mm.RunReportHook')]
    visualizer = dict(type='Visualizer', vis_backends=[
        dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])

It times the stages between the loop's hook points, sends the stage-1
losses, the search fitness and the final metrics to the runner's
``Visualizer``, measures the per-layer sensitivity and the
patch-similarity densities once the model is quantized, and at the end
writes ``report/run_data.json`` and ``report.md`` (with its figures) into
the work dir.
"""
import os.path as osp
import time
from typing import Dict, List, Optional

import torch
from mmengine import dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from clamp_mm.models.base import ModelAdapter
from clamp_mm.registry import HOOKS
from clamp_mm.report import (analyse_quantized_model, log_search_fitness,
                             log_stage1_losses, plain_loss_log,
                             write_run_report)
from clamp_mm.report.run_files import SYNTHETIC_IMAGES_FILE
from clamp_mm.synth.dataset import SyntheticImageDataset


def first_test_batch(runner, max_images: int) -> Optional[torch.Tensor]:
    """Normalised images of the first test batch, as the model sees them.

    Args:
        runner (Runner): The runner (its test dataloader and the model's
            data preprocessor are used).
        max_images (int): Images kept at most.

    Returns:
        Tensor, optional: (N, 3, H, W) images, or None when the batch does
        not hold one image tensor (e.g. differently sized detection images).
    """
    batch = next(iter(runner.test_loop.dataloader))
    model = runner.model
    if is_model_wrapper(model):
        model = model.module
    inputs = model.data_preprocessor(batch, False)['inputs']
    if isinstance(inputs, (list, tuple)):
        if len({tuple(item.shape) for item in inputs}) != 1:
            return None
        inputs = torch.stack(list(inputs))
    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 4 or \
            inputs.shape[1] != 3:
        return None
    return inputs[:max_images].float()


def synthesis_loss_log(runner) -> Optional[list]:
    """The generator's loss log of the run's synthetic images.

    Read from the loop's ``synthetic_dataset`` when it keeps one, else from
    the metadata of the images file in the work dir (written before
    ``after_synthesis``).

    Returns:
        list, optional: One dict per optimisation step; None for images
        from a generator that does not optimise or cached by an older
        version.
    """
    dataset = getattr(runner.test_loop, 'synthetic_dataset', None)
    if dataset is None:
        path = osp.join(runner.work_dir, SYNTHETIC_IMAGES_FILE)
        if not osp.isfile(path):
            return None
        dataset = SyntheticImageDataset.load(path)
    return dataset.metadata.get('loss_log')


@HOOKS.register_module()
class RunReportHook(Hook):
    """Write the run report and send the run's scalars to the visualizer.

    Args:
        sensitivity (bool): Measure the per-layer sensitivity (one forward
            of the synthetic images per quantized layer). Defaults to True.
        density (bool): Measure the patch-similarity densities of the
            synthetic images, real test images and Gaussian noise.
            Defaults to True.
        max_real_images (int): Real test images (from the first test batch)
            in the density plot at most. Defaults to 32.
        tracking (bool): Send stage-1 losses, search fitness and final
            metrics to the runner's visualizer. Defaults to True.
        progress (bool): Progress bar while measuring the sensitivity.
            Defaults to True.
    """

    priority = 'LOW'

    def __init__(self,
                 sensitivity: bool = True,
                 density: bool = True,
                 max_real_images: int = 32,
                 tracking: bool = True,
                 progress: bool = True) -> None:
        if not isinstance(max_real_images, int) or max_real_images < 0:
            raise ValueError('max_real_images must be an int >= 0, got '
                             f'{max_real_images!r}')
        self.sensitivity = sensitivity
        self.density = density
        self.max_real_images = max_real_images
        self.tracking = tracking
        self.progress = progress
        self._reset()

    def _reset(self) -> None:
        self._marks: Dict[str, float] = {}
        self._epochs: List[List[float]] = []
        self._loss_log: List[dict] = []
        self._search: Optional[dict] = None
        self._analysis: dict = {}
        #: Path of the last report written (None before).
        self.report_file: Optional[str] = None

    # ---- timing -------------------------------------------------------------
    def before_test(self, runner) -> None:
        self._reset()
        self._marks['start'] = time.perf_counter()

    def before_test_epoch(self, runner) -> None:
        self._epochs.append([time.perf_counter(), None])

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self._epochs:
            self._epochs[-1][1] = time.perf_counter()

    def stage_seconds(self) -> Dict[str, float]:
        """Seconds per stage, from the times of the loop's hook points."""
        marks, epochs = self._marks, [e for e in self._epochs if e[1]]
        stages: Dict[str, float] = {}
        fp_epoch = epochs[0] if len(epochs) > 1 else None
        quantized_epoch = epochs[-1] if epochs else None
        if fp_epoch is not None:
            stages['FP evaluation'] = fp_epoch[1] - fp_epoch[0]
        after_fp = fp_epoch[1] if fp_epoch else marks['start']
        if 'synthesized' in marks:
            stages['synthesis (stage 1)'] = marks['synthesized'] - after_fp
        if 'quantized' in marks:
            stages['calibration and search (stage 2)'] = (
                marks['quantized'] - marks['synthesized_handled'])
            stages['report analysis (sensitivity, densities)'] = (
                marks['analysed'] - marks['quantized'])
            if quantized_epoch is not None:
                stages['model cost and summary'] = (quantized_epoch[0] -
                                                    marks['analysed'])
        elif quantized_epoch is not None:
            stages['restore the quantized model'] = (quantized_epoch[0] -
                                                     after_fp)
        if quantized_epoch is not None:
            stages['quantized evaluation'] = (quantized_epoch[1] -
                                              quantized_epoch[0])
        stages['total'] = marks['end'] - marks['start']
        return stages

    # ---- the loop's own hook points -----------------------------------------
    def after_synthesis(self, runner, images: torch.Tensor,
                        adapter: ModelAdapter) -> None:
        self._marks['synthesized'] = time.perf_counter()
        self._loss_log = plain_loss_log(synthesis_loss_log(runner))
        if self.tracking and self._loss_log and dist.is_main_process():
            log_stage1_losses(runner.visualizer, self._loss_log)
        self._marks['synthesized_handled'] = time.perf_counter()

    def after_quantization(self, runner, model, adapter: ModelAdapter,
                           images: torch.Tensor, search_result=None) -> None:
        self._marks['quantized'] = time.perf_counter()
        if search_result is not None:
            self._search = search_result.summary()
        if dist.is_main_process():
            if self.tracking and self._search:
                log_search_fitness(runner.visualizer,
                                   self._search['history'])
            real, real_error = None, None
            if self.density and self.max_real_images:
                try:
                    real = first_test_batch(runner, self.max_real_images)
                except Exception as error:  # any dataset or pipeline error
                    real_error = ' '.join(str(error).split())
            if real is not None:
                real = real.to(images.device)
            self._analysis = analyse_quantized_model(
                adapter, images, real, sensitivity=self.sensitivity,
                density=self.density, progress=self.progress)
            if real_error:
                self._analysis['real_images_error'] = real_error
        self._marks['analysed'] = time.perf_counter()

    def after_test(self, runner) -> None:
        self._marks['end'] = time.perf_counter()
        if not dist.is_main_process():
            return
        loop = runner.test_loop
        # Stage-1 losses and search fitness went out as they came.
        self.report_file = write_run_report(
            runner.work_dir, self._analysis, loss_log=self._loss_log,
            search=self._search, stage_seconds=self.stage_seconds(),
            label=getattr(loop, 'quantized_label', None),
            visualizer=runner.visualizer if self.tracking else None,
            tracked=('final', ),
            restored_from=getattr(loop, 'load_quantized', None))
        runner.logger.info(f'run report written to {self.report_file}')
