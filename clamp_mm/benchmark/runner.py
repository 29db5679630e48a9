"""The benchmark cells: one model, one seed, every setting and method.

A cell is (model, method, setting, seed). All cells of one model and seed
share the calibration images of each source (generated once, their cost
counted in every cell that uses them), the float model and the test data;
every quantized cell starts from a fresh copy of the float model and the
same quantizer recipe, so the cells differ only in what the method does.
"""
import copy
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.logging import MMLogger
from torch import nn

from clamp_mm.models import calibrate_observers, find_adapter
from clamp_mm.pipeline import (StageMeter, build_in_scope,
                               float_cost_report, quantize_model)
from clamp_mm.quant import set_quant_mode
from clamp_mm.quant.tensor_quantizer import iter_quantizers
from clamp_mm.reconstruction import BlockReconstructionCalibrator
from clamp_mm.registry import GENERATORS
from clamp_mm.search import EvolutionaryCalibrator, SearchConfig
from clamp_mm.search.genome import is_weight_quantizer
from clamp_mm.synth.diagnostics import misprediction_rate
from .methods import SETTINGS, BenchmarkConfig, MethodSpec
from .tasks import ModelSpec

#: Images kept per source for the image-grid plot.
GRID_IMAGES = 8


class SourceImages:
    """One calibration set and what making it cost.

    Args:
        images (Tensor): Normalised images (N, 3, H, W).
        targets (Tensor, optional): Labels the images should show (random
            labels of a generator, true labels of real images), or None.
        seconds (float): Wall time to make them.
        peak_mib (float): Peak RSS growth while making them.
        generator (BaseGenerator, optional): The generator, kept for the
            image refreshes of the cyclic adaptation. Defaults to None.
    """

    def __init__(self, images: torch.Tensor,
                 targets: Optional[torch.Tensor], seconds: float,
                 peak_mib: float, generator=None) -> None:
        self.images = images
        self.targets = targets
        self.seconds = seconds
        self.peak_mib = peak_mib
        self.generator = generator


def _build_generator(cfg: dict):
    return build_in_scope(GENERATORS, cfg)


class ImageSources:
    """The calibration sets of one model and seed, each made once.

    PSAQ-ViT v2 optimises against a quantized model, so its set depends on
    the setting: its quantized model is calibrated on the generator's own
    starting noise (Gaussian, same seed), then refined by v2 round after
    round.

    Args:
        fp_model (nn.Module): The float model.
        adapter (ModelAdapter): Its adapter.
        spec (ModelSpec): The model's spec (calibration resolution).
        task: The model's task (real images).
        config (BenchmarkConfig): Budgets.
        seed (int): Seed of every draw.
    """

    def __init__(self, fp_model: nn.Module, adapter, spec: ModelSpec, task,
                 config: BenchmarkConfig, seed: int) -> None:
        self.fp_model = fp_model
        self.adapter = adapter
        self.spec = spec
        self.task = task
        self.config = config
        self.seed = seed
        self._made: Dict[Tuple[str, Optional[str]], SourceImages] = {}

    def made(self) -> Dict[str, SourceImages]:
        """Every set made so far, by source (v2: ``psaq_v2 W4/A4``)."""
        order = ('real', 'gaussian', 'psaq_v1', 'psaq_v2', 'clamp')
        keys = sorted(self._made, key=lambda key: (order.index(key[0]),
                                                   key[1] or ''))
        return {(source if setting is None else f'{source} {setting}'):
                self._made[(source, setting)] for source, setting in keys}

    def get(self, source: str, setting: str) -> SourceImages:
        """The set of ``source`` (made now if not yet)."""
        key = (source, setting if source == 'psaq_v2' else None)
        if key not in self._made:
            MMLogger.get_current_instance().info(
                f'benchmark: making {source} images for {self.spec.key} '
                f'seed {self.seed}' + (f' {setting}' if key[1] else ''))
            self._made[key] = self._make(source, setting)
        return self._made[key]

    def _make(self, source: str, setting: str) -> SourceImages:
        meter = StageMeter()
        config = self.config
        generator, targets = None, None
        with meter.stage('make'):
            if source == 'real':
                images, targets = self.task.real_images(
                    self.adapter, config.num_images, self.seed)
            else:
                generator = _build_generator(
                    config.generator_cfg(source, self.seed,
                                         self.spec.grey_inputs))
                quantized = None
                if source == 'psaq_v2':
                    quantized = self._v2_quantized_model(setting)
                images = generator.generate(self.adapter, config.num_images,
                                            self.spec.resolution, quantized)
                targets = generator.targets
        return SourceImages(images.detach(), targets, meter.seconds['make'],
                            meter.peak_mib['make'], generator)

    def _v2_quantized_model(self, setting: str):
        weight_bits, act_bits = SETTINGS[setting]
        noise = _build_generator(
            dict(type='clamp_mm.GaussianGenerator',
                 seed=self.seed)).generate(self.adapter,
                                           self.config.num_images,
                                           self.spec.resolution)
        model = copy.deepcopy(self.fp_model)
        adapter = find_adapter(model)
        calibrate_observers(model,
                            self.config.recipe(weight_bits, act_bits), noise,
                            self.config.num_images, adapter)
        return adapter


def average_weight_bits(model: nn.Module) -> Optional[float]:
    """Parameter-weighted mean bit-width of the quantized weights."""
    total = weighted = 0
    for module in model.modules():
        quantizer = getattr(module, 'weight_quantizer', None)
        weight = getattr(module, 'weight', None)
        if quantizer is not None and isinstance(weight, nn.Parameter):
            total += weight.numel()
            weighted += weight.numel() * quantizer.bits
    return weighted / total if total else None


def misprediction_percent(adapter, source: SourceImages) -> Optional[float]:
    """Share (%, as the report prints it) of a set whose FP prediction is
    not its target label; None without labels or head."""
    rate = misprediction_rate(adapter, source.images, source.targets)
    return None if rate is None else 100.0 * rate


def weight_bits_per_layer(model: nn.Module) -> Dict[str, int]:
    """Bits of every calibrated weight quantizer, by its module's name."""
    return {
        name.rsplit('.weight_quantizer', 1)[0]: quantizer.bits
        for name, quantizer in iter_quantizers(model)
        if quantizer.is_calibrated and is_weight_quantizer(name, quantizer)
    }


class CellRunner:
    """Runs the cells of one model and seed.

    Args:
        spec (ModelSpec): The model.
        fp_model (nn.Module): Its float model (never modified).
        task: Its task (evaluation, real images).
        config (BenchmarkConfig): Budgets.
        seed (int): Seed of the cells.
        check_fp (bool): Also score each quantized model with its
            quantizers off: it must reproduce the float figures exactly
            (proves that no method touched the float weights). Defaults to
            True.
    """

    def __init__(self, spec: ModelSpec, fp_model: nn.Module, task,
                 config: BenchmarkConfig, seed: int,
                 check_fp: bool = True) -> None:
        self.spec = spec
        self.fp_model = fp_model
        self.adapter = find_adapter(fp_model)
        self.task = task
        self.config = config
        self.seed = seed
        self.check_fp = check_fp
        self.sources = ImageSources(fp_model, self.adapter, spec, task,
                                    config, seed)
        self.logger = MMLogger.get_current_instance()

    def run(self, method: MethodSpec, setting: str) -> dict:
        """Run one cell; return its record (plain JSON-able data)."""
        torch.manual_seed(self.seed)
        started = time.perf_counter()
        meter = StageMeter()
        record = dict(model=self.spec.key, method=method.key,
                      setting=setting, seed=self.seed)
        if method.source is None:
            with meter.stage('evaluate'):
                metrics = self.task.evaluate(self.fp_model, self.adapter)
            record.update(metrics=metrics, fp_metrics=metrics,
                          cost=float_cost_report(self.fp_model,
                                                 self.spec.resolution),
                          avg_weight_bits=32.0, avg_activation_bits=32.0)
        else:
            record.update(self._run_quantized(method, setting, meter))
        record.update(stage_seconds=meter.seconds,
                      stage_peak_mib=meter.peak_mib,
                      cell_seconds=time.perf_counter() - started,
                      threads=torch.get_num_threads())
        return record

    def _run_quantized(self, method: MethodSpec, setting: str,
                       meter: StageMeter) -> dict:
        weight_bits, act_bits = SETTINGS[setting]
        source = self.sources.get(method.source, setting)
        meter.record('generate', source.seconds, source.peak_mib)
        mixed = method.search == 'mixed'
        # Mixed precision starts at 8-bit weights; the budget brings them
        # down to the target average before the search.
        recipe = self.config.recipe(8 if mixed else weight_bits, act_bits)
        model = copy.deepcopy(self.fp_model)
        calibrator, refresher = None, None
        if method.search == 'reconstruction':
            calibrator = BlockReconstructionCalibrator(**dict(
                dict(seed=self.seed, progress_bar=False, plots=False),
                **self.config.reconstruction, work_dir=None, resume=False))
        elif method.search != 'none':
            calibrator = EvolutionaryCalibrator(self._search_config(method))
            if calibrator.config.cyclic_adaptation:
                refresher = source.generator
        result = quantize_model(model, recipe, refresher, calibrator,
                                calibration_batch_size=self.config.num_images,
                                images=source.images, stage_meter=meter)
        adapter = result.adapter
        extra = {}
        if method.search == 'reconstruction':
            extra['reconstruction'] = self._reconstruction_record(
                result, meter, calibrator.config)
        elif result.search is not None:
            extra['search'] = self._search_record(result, meter,
                                                  calibrator.config)
        with meter.stage('evaluate'):
            metrics = self.task.evaluate(model, adapter)
        fp_metrics = None
        if self.check_fp:
            set_quant_mode(model, 'off')
            fp_metrics = self.task.evaluate(model, adapter)
            set_quant_mode(model, 'quantize')
        activation_bits = [q.bits for name, q in iter_quantizers(model)
                           if q.is_calibrated
                           and not is_weight_quantizer(name, q)]
        if mixed:
            extra['weight_bits_per_layer'] = weight_bits_per_layer(model)
            extra['weight_bits_budget'] = self.config.mixed_avg_weight_bits
        return dict(
            metrics=metrics, fp_metrics=fp_metrics, cost=result.cost,
            avg_weight_bits=average_weight_bits(model),
            avg_activation_bits=(sum(activation_bits) /
                                 max(1, len(activation_bits))),
            misprediction=misprediction_percent(self.adapter, source),
            **extra)

    def _search_config(self, method: MethodSpec) -> SearchConfig:
        fields = dict(self.config.search)
        fields.update(seed=self.seed,
                      cyclic_adaptation=method.search != 'search',
                      progress_bar=False, plots=False, work_dir=None,
                      resume=False)
        if method.search == 'mixed':
            fields['mixed_precision'] = self.config.mixed_precision()
        return SearchConfig(**fields)

    @staticmethod
    def _reconstruction_record(result, meter: StageMeter, config) -> dict:
        # quantize_model times every calibrator as its 'search' stage.
        meter.record('reconstruct', meter.seconds.pop('search', 0.0),
                     meter.peak_mib.pop('search', 0.0))
        reconstruction = result.search
        return dict(config=config.fingerprint(),
                    finished=reconstruction.finished,
                    block_losses=reconstruction.block_losses,
                    times=reconstruction.times)

    @staticmethod
    def _search_record(result, meter: StageMeter,
                       config: SearchConfig) -> dict:
        # The image refreshes of the cyclic adaptation are a stage of their
        # own, not search time.
        search = result.search
        refresh = search.times.get('refresh', 0.0)
        meter.seconds['search'] -= refresh
        meter.record('refresh', refresh, 0.0)
        return dict(finished=search.finished, num_scored=search.num_scored,
                    num_rejected=search.num_rejected,
                    metrics=search.metrics, times=search.times,
                    config=config.fingerprint())


def run_model_seed(spec: ModelSpec, fp_model: nn.Module, task,
                   config: BenchmarkConfig, seed: int,
                   methods: List[MethodSpec], settings: List[str],
                   on_cell: Callable[[dict], None],
                   check_fp: bool = True,
                   recorded: Optional[Dict[tuple, dict]] = None
                   ) -> Dict[str, torch.Tensor]:
    """Run every (method, setting) cell of one model and seed.

    Args:
        spec, fp_model, task, config, seed: See :class:`CellRunner`.
        methods (list[MethodSpec]): Methods, in order.
        settings (list[str]): Settings, in order. The float model is one
            cell per seed whatever the settings (recorded under each).
        on_cell (Callable[[dict], None]): Receives each new record as soon
            as it is done (to save partial results).
        check_fp (bool): See :class:`CellRunner`. Defaults to True.
        recorded (dict[tuple, dict], optional): Records of this model and
            seed that an earlier, interrupted run of the same benchmark
            config already saved, by ``(method, setting)``: those cells are
            not run again (nor passed to ``on_cell``). Defaults to None.

    Returns:
        dict[str, Tensor]: The first :data:`GRID_IMAGES` images of every
        source made, for the image-grid plot.
    """
    cells = CellRunner(spec, fp_model, task, config, seed, check_fp)
    # Cells that do not depend on (all of) the setting run once: the float
    # model, and mixed precision per activation bit-width (its weight bits
    # come from the budget). Their copies are marked ``shared_with``.
    done: Dict[tuple, dict] = {}
    recorded = recorded or {}
    for setting in settings:
        for method in methods:
            if method.source is None:
                key = (method.key, )
            elif method.search == 'mixed':
                key = (method.key, SETTINGS[setting][1])
            else:
                key = (method.key, setting)
            if (method.key, setting) in recorded:
                record = recorded[(method.key, setting)]
                if 'shared_with' not in record:
                    done.setdefault(key, record)
                cells.logger.info(f'benchmark: {spec.key} seed {seed} '
                                  f'{setting} {method.key}: already recorded '
                                  'in the results, not run again')
                continue
            if key in done:
                record = dict(done[key], setting=setting,
                              shared_with=done[key]['setting'])
            else:
                record = done[key] = cells.run(method, setting)
            cells.logger.info(
                f'benchmark: {spec.key} seed {seed} {setting} {method.key}: '
                + ', '.join(f'{k} {v:.2f}'
                            for k, v in record['metrics'].items()
                            if k in spec.metrics) +
                f' ({record["cell_seconds"]:.1f} s)')
            on_cell(record)
    return {name: made.images[:GRID_IMAGES]
            for name, made in cells.sources.made().items()}
