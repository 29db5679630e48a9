"""The CLAMP-ViT pipeline in one runner-free call.

Synthesize calibration images from the float model (stage 1), calibrate the
observers on them, run the calibrator (stage 2: the evolutionary search with
cyclic adaptation), share the result across ranks and report the cost. The
test loop, the benchmark and the tools all call :func:`quantize_model`.

Example::

    import clamp_mm
    result = clamp_mm.quantize_model(model, recipe=dict(weight_bits=4),
                                     num_images=32, work_dir='work_dirs/x')
    result.model, result.cost, result.stage_seconds
"""
import copy
import os.path as osp
from typing import Callable, Optional, Sequence, Union

import torch
from mmengine import dist
from torch import nn

from clamp_mm.models.base import ModelAdapter, find_adapter
from clamp_mm.models.observer_calibration import calibrate_observers
from clamp_mm.quant import QuantRecipe, set_quant_mode
from clamp_mm.registry import CALIBRATORS, GENERATORS
from clamp_mm.synth import model_identity
from .building import build_in_scope
from .cost import cost_report
from .distributed import broadcast_quantization
from .loop_config import DEFAULT_CALIBRATOR, DEFAULT_GENERATOR
from .result import QuantizationResult
from .run_state import begin_run_for, confirm_inputs, tensor_sha256
from .stage_meter import StageMeter
from .synthesis import synthesize

#: Names of the files a run writes in its work dir.
SYNTHETIC_IMAGES_FILE = 'synthetic_images.pth'
SEARCH_DIR = 'search'


def build_calibrator(calibrator: Union[dict, object, None],
                     work_dir: Optional[str] = None):
    """Build a calibrator config; its search state goes to
    ``work_dir/search`` on rank 0 unless the config names a ``work_dir``.

    Only rank 0 keeps search state: the ranks search the same images and
    would otherwise write the same files at once.

    Args:
        calibrator (dict | object | None): Config, ready calibrator, or None.
        work_dir (str, optional): The run's work dir. Defaults to None (no
            search state on disk unless the config names a folder).

    Returns:
        object | None: The calibrator.
    """
    if not isinstance(calibrator, dict):
        return calibrator
    calibrator = copy.deepcopy(dict(calibrator))
    if dist.get_rank() == 0:
        if work_dir is not None:
            calibrator.setdefault('work_dir', osp.join(work_dir, SEARCH_DIR))
    else:
        calibrator['work_dir'] = None
    return build_in_scope(CALIBRATORS, calibrator)


def quantize_model(model: nn.Module,
                   recipe: Union[QuantRecipe, dict, None] = None,
                   generator: Union[dict, object, None] = None,
                   calibrator: Union[dict, object, None] = DEFAULT_CALIBRATOR,
                   num_images: int = 32,
                   resolution: Optional[Sequence[int]] = None,
                   calibration_batch_size: int = 8,
                   images: Optional[torch.Tensor] = None,
                   work_dir: Optional[str] = None,
                   adapter: Optional[ModelAdapter] = None,
                   stage_meter=None,
                   on_images: Optional[Callable] = None,
                   on_calibrated: Optional[Callable] = None,
                   run_identity: Optional[dict] = None,
                   report: bool = False) -> QuantizationResult:
    """CLAMP-quantize ``model`` in place, without any Runner.

    Args:
        model (nn.Module): A float model some adapter understands (timm,
            mmpretrain, mmdet, mmseg model or backbone).
        recipe (QuantRecipe | dict, optional): What to quantize and how.
            Defaults to None (``QuantRecipe()``: W4/A8).
        generator (dict | BaseGenerator, optional): Makes the calibration
            images and, with cyclic adaptation, refreshes them. Defaults to
            None: ``ClampGenerator()`` when ``images`` is None, else no
            generator (no refresh).
        calibrator (dict | object | None): Calibrator config or instance
            (``calibrate(model, images, refresh_fn)``); None calibrates with
            the observers only. Defaults to the evolutionary search with
            method.md's defaults.
        num_images (int): Images to synthesize. Defaults to 32.
        resolution (Sequence[int], optional): (H, W) of the images.
            Defaults to None (the adapter's input size; set it for
            detector and segmentor backbones).
        calibration_batch_size (int): Images per forward of the observer
            calibration without a calibrator (with one, the observers see
            all images in one forward: the search's starting point).
            Defaults to 8.
        images (Tensor, optional): Ready calibration images (normalised);
            synthesis is skipped. Defaults to None.
        work_dir (str, optional): Where the synthetic images are cached
            (``synthetic_images.pth``, reused when model, generator config,
            seed, number and resolution match) and, for a calibrator given
            as a config, the search state (``search/``). Defaults to None
            (nothing written).
        adapter (ModelAdapter, optional): The adapter of ``model``.
            Defaults to None (:func:`clamp_mm.models.find_adapter`).
        stage_meter (StageMeter, optional): Measures the stages
            (anything with ``stage(name)`` and ``seconds``). Defaults to
            None (a fresh :class:`StageMeter`).
        on_images (Callable, optional): ``on_images(images, adapter)``,
            called once the calibration images exist, before any
            quantizer is swapped in. Defaults to None.
        on_calibrated (Callable, optional): ``on_calibrated(model,
            adapter)``, called once the observers are calibrated, before
            the calibrator runs (to score the observers' solution).
            Defaults to None.
        run_identity (dict, optional): ``quantized_module``, ``checkpoint``
            and ``run_seed`` of the run, recorded in the run fingerprint
            with ``work_dir`` (see :mod:`clamp_mm.pipeline.run_state`).
            Defaults to None (not known).
        report (bool): With ``work_dir``, also write the run report
            (``work_dir/report.md``: cost, stage times, images, losses,
            densities, search, bits, per-layer sensitivity; no task
            metrics, this function evaluates nothing). Off by default: the
            quantization loop writes a fuller one after its evaluation.
            Defaults to False.

    Returns:
        QuantizationResult: The quantized model with its record.

    Raises:
        RunStateMismatchError: When ``work_dir`` holds search state of a
            run with another fingerprint.
    """
    recipe = QuantRecipe() if recipe is None else QuantRecipe.from_dict(recipe)
    if adapter is None:
        adapter = find_adapter(model)
    if generator is None and images is None:
        generator = DEFAULT_GENERATOR
    generator = build_in_scope(GENERATORS, generator)
    calibrator = build_calibrator(calibrator, work_dir)
    meter = StageMeter() if stage_meter is None else stage_meter
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else 'cpu'

    state_file = None
    if work_dir is not None and dist.is_main_process():
        state_file = begin_run_for(work_dir, recipe, generator, calibrator,
                                   num_images, resolution, run_identity)
    weights_sha256 = model_identity(model)
    metadata, reused = {}, False
    if images is None:
        cache_file = None if work_dir is None else osp.join(
            work_dir, SYNTHETIC_IMAGES_FILE)
        with meter.stage('synthesize'):
            dataset, reused = synthesize(generator, adapter, num_images,
                                         resolution, cache_file)
        images, metadata = dataset.images, dataset.metadata
    if work_dir is not None and dist.is_main_process():
        confirm_inputs(work_dir, dict(images_sha256=tensor_sha256(images),
                                      weights_sha256=weights_sha256),
                       state_file, reused)
    images = images.to(device)
    if on_images is not None:
        on_images(images, adapter)

    search = None
    if not reused and calibrator is not None and \
            getattr(getattr(calibrator, 'config', None), 'resume', False):
        # Search state left by an earlier run belongs to other images:
        # start afresh (the state is rewritten as the search goes).
        calibrator.config = calibrator.config.replace(resume=False)
    with meter.stage('calibrate'):
        calibrate_observers(
            model, recipe, images,
            None if calibrator is not None else calibration_batch_size,
            adapter)
    if on_calibrated is not None:
        on_calibrated(model, adapter)
    if calibrator is not None:
        with meter.stage('search'):
            search = calibrator.calibrate(model, images,
                                          refresh_fn=generator)
    # The searches of the ranks may still differ by floating-point noise
    # (GPU kernels): rank 0's parameters win everywhere.
    broadcast_quantization(model)
    set_quant_mode(model, 'quantize')
    mixed = search is not None and getattr(
        getattr(calibrator, 'config', None), 'mixed_precision',
        None) is not None
    result = QuantizationResult(
        model=model, adapter=adapter, recipe=recipe, images=images,
        metadata=metadata, reused_images=reused, search=search,
        cost=cost_report(model, adapter, tuple(images.shape[-2:])),
        stage_seconds=dict(meter.seconds), mixed_precision=mixed)
    if report and work_dir is not None and dist.is_main_process():
        from clamp_mm.report import report_quantization
        report_quantization(result, work_dir)
    return result
