"""The calibration methods compared side by side, and their settings.

Every quantized method uses the same quantizer (:class:`QuantRecipe` with
the setting's bits, its default observers) and differs only in its calibration
images and in whether the evolutionary search runs after the observers:

============== ======================= =====================================
key            images                  after the observers
============== ======================= =====================================
fp             (none: float model)     -
real           32 real training images -
gaussian       N(0, 1) noise           -
psaq_v1        PSAQ-ViT v1             -
psaq_v2        PSAQ-ViT v2 (adaptive)  -
clamp_stage1   CLAMP stage 1           -
clamp_search   CLAMP stage 1           search, no cyclic adaptation
clamp_full     CLAMP stage 1           search with cyclic adaptation
mixed          CLAMP stage 1           mixed-precision search (<= 4.5 avg
                                       weight bits), cyclic adaptation
real_recon     32 real training images block reconstruction
clamp_recon    CLAMP stage 1           block reconstruction
============== ======================= =====================================

The reconstruction methods go beyond the paper (issue 18) and are run only
when named: ``'all'`` is the paper's comparison (:data:`PAPER_METHODS`).
"""
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

from clamp_mm.quant import QuantRecipe
from clamp_mm.registry import GENERATORS
from clamp_mm.synth.budget import budget_fields


@dataclass(frozen=True)
class MethodSpec:
    """One column of the comparison.

    Args:
        key (str): Name on the command line and in the results.
        label (str): Name in tables and plots.
        source (str, optional): Calibration images: ``'real'``,
            ``'gaussian'``, ``'psaq_v1'``, ``'psaq_v2'`` or ``'clamp'``;
            None for the float model.
        search (str): ``'none'``, ``'search'`` (no cyclic adaptation),
            ``'cyclic'``, ``'mixed'`` or ``'reconstruction'``
            (:class:`clamp_mm.BlockReconstructionCalibrator`).
    """
    key: str
    label: str
    source: Optional[str]
    search: str


#: Every method, in report order.
METHOD_SPECS: Dict[str, MethodSpec] = {
    spec.key: spec
    for spec in (
        MethodSpec('fp', 'FP', None, 'none'),
        MethodSpec('real', 'real data (observers)', 'real', 'none'),
        MethodSpec('gaussian', 'Gaussian noise', 'gaussian', 'none'),
        MethodSpec('psaq_v1', 'PSAQ-ViT v1', 'psaq_v1', 'none'),
        MethodSpec('psaq_v2', 'PSAQ-ViT v2', 'psaq_v2', 'none'),
        MethodSpec('clamp_stage1', 'CLAMP stage 1', 'clamp', 'none'),
        MethodSpec('clamp_search', 'CLAMP stage 1 + search', 'clamp',
                   'search'),
        MethodSpec('clamp_full', 'CLAMP (cyclic adaptation)', 'clamp',
                   'cyclic'),
        MethodSpec('mixed', 'CLAMP mixed precision', 'clamp', 'mixed'),
        MethodSpec('real_recon', 'real data + reconstruction', 'real',
                   'reconstruction'),
        MethodSpec('clamp_recon', 'CLAMP stage 1 + reconstruction', 'clamp',
                   'reconstruction'),
    )
}
#: What ``'all'`` runs: every method but the block reconstructions.
PAPER_METHODS = tuple(key for key, spec in METHOD_SPECS.items()
                      if spec.search != 'reconstruction')

#: Weight / activation bits of each setting.
SETTINGS: Dict[str, Tuple[int, int]] = {
    'W8/A8': (8, 8),
    'W4/A8': (4, 8),
    'W4/A4': (4, 4),
    'W3/A4': (3, 4),
}
#: Settings run when none is named.
DEFAULT_SETTINGS = ('W8/A8', 'W4/A8', 'W4/A4')

#: Splits a benchmark may score the classifiers on: ``'test'`` for finished
#: models, ``'val'`` (held-out training images) for choices.
EVAL_SPLITS = ('test', 'val')

#: Generator type of each synthetic source.
GENERATOR_TYPES = {
    'gaussian': 'clamp_mm.GaussianGenerator',
    # As zkkli/PSAQ-ViT runs it; clamp_mm.PSAQv1Generator is the earlier
    # variant (MHSA-output taps), kept for configs that name it.
    'psaq_v1': 'clamp_mm.PSAQv1OfficialGenerator',
    'psaq_v2': 'clamp_mm.PSAQv2Generator',
    'clamp': 'clamp_mm.ClampGenerator',
}


def check_quantizer_fields(fields: dict, bits_from: str) -> dict:
    """``fields`` (QuantRecipe fields over the default quantizer, without
    the bits) as a checked dict.

    Args:
        fields (dict): The fields.
        bits_from (str): Where the bits come from, for the message.

    Raises:
        ValueError: On bits among the fields or a field QuantRecipe refuses.
    """
    fields = dict(fields)
    for key in ('weight_bits', 'act_bits'):
        if key in fields:
            raise ValueError(f'{key} comes from {bits_from}, not from the '
                             'quantizer fields')
    try:
        QuantRecipe.from_dict(fields)
    except TypeError as error:
        raise ValueError(str(error)) from None
    return fields


def recipe_at_bits(fields: Optional[dict], weight_bits: int,
                   act_bits: int) -> QuantRecipe:
    """The default quantizer with ``fields`` over it, at these bits."""
    return QuantRecipe.from_dict(dict(fields or {}, weight_bits=weight_bits,
                                      act_bits=act_bits))


@dataclass
class BenchmarkConfig:
    """What every cell shares: data sizes, stage-1 and search budgets.

    Args:
        num_images (int): Calibration images of every source. Defaults
            to 32.
        generator_iterations (int, optional): Stage-1 budget: CLAMP's
            iterations (warm-up scaled with it), PSAQ-ViT v1's iterations per
            round (2 rounds), PSAQ-ViT v2's total over its 4 rounds. None
            keeps each generator's method.md default (500). Defaults to
            None.
        source_iterations (dict): Stage-1 budget of single sources, read
            like ``generator_iterations`` and overriding it, e.g.
            ``dict(psaq_v1=100)`` to give CLAMP its method.md budget while
            the 60x costlier PSAQ-ViT v1 gets what the machine affords.
            Defaults to ``{}``.
        search (dict): SearchConfig fields overriding the method.md defaults
            (e.g. ``dict(passes=2)``). Defaults to ``{}``.
        reconstruction (dict): BlockReconstructionCalibrator fields of the
            reconstruction methods (e.g. ``dict(iterations=200)``).
            Defaults to ``{}`` (its defaults).
        mixed_avg_weight_bits (float): Budget of the mixed-precision method.
            Defaults to 4.5.
        mixed_weight_bit_choices (Sequence[int]): Weight bit-widths the
            mixed-precision search may pick. Defaults to (3, 4, 5, 6, 7, 8).
        num_test (int, optional): Test images scored (the first ones of the
            split); None for all. Defaults to None.
        grey_generation (bool): Optimising generators (CLAMP, PSAQ-ViT v1
            and v2) optimise grey images for models trained on grey inputs
            (``ModelSpec.grey_inputs``); Gaussian noise stays N(0, 1) on
            every channel. Defaults to False.
        eval_split (str): Split the classifiers are scored on: ``'test'``
            (the 10k test images: finished models only) or ``'val'`` (the
            5,000 held-out training images, to choose defaults on; real
            calibration images then come from the other 55,000). Dense
            models have only ``'test'``. Defaults to ``'test'``.
        quantizer (dict): :class:`QuantRecipe` fields over the default
            quantizer, the same for every method (e.g.
            ``dict(preset='clamp_data_free_linear')``); the bits come from
            the setting. Defaults to ``{}`` (the default quantizer).
    """
    num_images: int = 32
    generator_iterations: Optional[int] = None
    source_iterations: Dict[str, int] = field(default_factory=dict)
    search: dict = field(default_factory=dict)
    reconstruction: dict = field(default_factory=dict)
    mixed_avg_weight_bits: float = 4.5
    mixed_weight_bit_choices: Sequence[int] = (3, 4, 5, 6, 7, 8)
    num_test: Optional[int] = None
    grey_generation: bool = False
    eval_split: str = 'test'
    quantizer: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.num_images < 1:
            raise ValueError(f'num_images={self.num_images}, expected >= 1')
        if self.generator_iterations is not None and \
                self.generator_iterations < 4:
            raise ValueError(f'generator_iterations='
                             f'{self.generator_iterations}, expected >= 4 '
                             '(PSAQ-ViT v2 splits it over 4 rounds)')
        self.source_iterations = dict(self.source_iterations)
        optimised = sorted(set(GENERATOR_TYPES) - {'gaussian'})
        for source, budget in self.source_iterations.items():
            if source not in optimised:
                raise ValueError(f'source_iterations: {source!r} is not an '
                                 f'optimising source, expected one of '
                                 f'{optimised}')
            if not isinstance(budget, int) or budget < 4:
                raise ValueError(f'source_iterations[{source!r}]={budget}, '
                                 'expected an int >= 4')
        if self.num_test is not None and self.num_test < 1:
            raise ValueError(f'num_test={self.num_test}, expected >= 1')
        if self.eval_split not in EVAL_SPLITS:
            raise ValueError(f'eval_split={self.eval_split!r}, expected one '
                             f'of {list(EVAL_SPLITS)}')
        self.mixed_weight_bit_choices = tuple(self.mixed_weight_bit_choices)
        try:
            self.mixed_precision()
        except ValueError as error:
            raise ValueError(f'mixed precision: {error}') from None
        if self.mixed_avg_weight_bits < min(self.mixed_weight_bit_choices):
            raise ValueError(
                f'mixed_avg_weight_bits={self.mixed_avg_weight_bits}, '
                'expected at least the smallest of mixed_weight_bit_choices '
                f'{self.mixed_weight_bit_choices}')
        self.reconstruction = dict(self.reconstruction)
        from clamp_mm.reconstruction.config import ReconstructionConfig
        ReconstructionConfig.from_fields(**self.reconstruction)  # checked
        try:
            self.quantizer = check_quantizer_fields(self.quantizer,
                                                    'the setting')
        except ValueError as error:
            raise ValueError(f'quantizer fields: {error}') from None

    def mixed_precision(self):
        """The :class:`MixedPrecisionConfig` of the ``mixed`` method."""
        from clamp_mm.search import MixedPrecisionConfig
        return MixedPrecisionConfig(
            weight_bit_choices=self.mixed_weight_bit_choices,
            avg_weight_bits=self.mixed_avg_weight_bits)

    def recipe(self, weight_bits: int, act_bits: int) -> QuantRecipe:
        """The quantizer of every method at these bits."""
        return recipe_at_bits(self.quantizer, weight_bits, act_bits)

    def generator_cfg(self, source: str, seed: int,
                      grey_inputs: bool = False) -> dict:
        """Generator config of a synthetic source, at this budget.

        Args:
            source (str): A key of :data:`GENERATOR_TYPES`.
            seed (int): Generator seed.
            grey_inputs (bool): The model saw grey images (see
                ``grey_generation``). Defaults to False.
        """
        cfg = dict(type=GENERATOR_TYPES[source], seed=seed,
                   batch_size=self.num_images, progress=False)
        if self.grey_generation and grey_inputs and source != 'gaussian':
            cfg.update(grayscale=True)
        budget = self.source_iterations.get(source,
                                            self.generator_iterations)
        if budget is None or source == 'gaussian':
            return cfg
        cfg.update(budget_fields(GENERATORS.get(cfg['type']), budget))
        return cfg


def parse_methods(names: Sequence[str]) -> Tuple[str, ...]:
    """Validate method keys; keep report order. ``'all'`` stands for
    :data:`PAPER_METHODS` (reconstruction methods are named apart)."""
    names = list(names)
    if 'all' in names:
        names = [name for name in names if name != 'all'] + list(
            PAPER_METHODS)
    unknown = [name for name in names if name not in METHOD_SPECS]
    if unknown:
        raise ValueError(f'unknown method(s) {unknown}; expected some of '
                         f'{list(METHOD_SPECS)} or "all"')
    return tuple(key for key in METHOD_SPECS if key in names)


def parse_settings(names: Sequence[str]) -> Tuple[str, ...]:
    """Validate settings (``W4/A4`` or ``w4a4``); keep the given order."""
    chosen = []
    for name in names:
        canonical = name.upper().replace('A', '/A') if '/' not in name \
            else name.upper()
        if canonical not in SETTINGS:
            raise ValueError(f'unknown setting {name!r}; expected some of '
                             f'{list(SETTINGS)}')
        if canonical not in chosen:
            chosen.append(canonical)
    return tuple(chosen)
