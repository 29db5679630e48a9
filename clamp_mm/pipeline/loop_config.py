"""The one typed config of a quantization run (``test_cfg`` of a
``clamp_mm.QuantTestLoop``), validated once.

``tools/quantize.py``'s preflight and :class:`clamp_mm.engine.QuantTestLoop`
both build a :class:`QuantLoopConfig` from the same dict, so a field added
here reaches both, with one set of defaults.
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Tuple

from clamp_mm.quant import QuantRecipe

#: Generator of a run that names none.
DEFAULT_GENERATOR = dict(type='clamp_mm.ClampGenerator')
#: Calibrator of a run that names none (None in a config: observers only).
DEFAULT_CALIBRATOR = dict(type='clamp_mm.EvolutionaryCalibrator')
#: Keys of ``test_cfg`` that belong to mmengine's TestLoop, not to CLAMP.
TEST_LOOP_KEYS = ('type', 'fp16', '_scope_')


def _plain(value: Any) -> Any:
    """ConfigDicts (and nested mappings) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    return value


@dataclass
class QuantLoopConfig:
    """What a CLAMP quantization run does, beside the task's own test loop.

    Args:
        recipe (QuantRecipe | dict): What to quantize and how; a dict is
            turned into a :class:`QuantRecipe`. Defaults to
            ``QuantRecipe()`` (W4/A8).
        generator (dict): Generator config for ``GENERATORS``.
            Defaults to ``dict(type='clamp_mm.ClampGenerator')``.
        num_images (int): Synthetic calibration images. Defaults to 32.
        resolution (tuple[int, int], optional): (H, W) of the synthetic
            images. Defaults to None (the adapter's input size; set it for
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
            first direct child one does.
        strict_checkpoint (bool): Refuse a float checkpoint that does not
            fit the model exactly. Defaults to True.

    Raises:
        ValueError: On a bad value, naming the field, the value and what is
            allowed.
    """
    recipe: QuantRecipe = field(default_factory=QuantRecipe)
    generator: dict = field(default_factory=lambda: dict(DEFAULT_GENERATOR))
    num_images: int = 32
    resolution: Optional[Tuple[int, int]] = None
    calibrator: Optional[dict] = field(
        default_factory=lambda: dict(DEFAULT_CALIBRATOR))
    calibration_batch_size: int = 8
    evaluate_fp: bool = False
    load_quantized: Optional[str] = None
    save_quantized: bool = True
    quantized_module: Optional[str] = None
    strict_checkpoint: bool = True

    def __post_init__(self) -> None:
        try:
            self.recipe = QuantRecipe.from_dict(_plain(self.recipe or {}))
        except (TypeError, ValueError) as error:
            raise ValueError(f'recipe: {" ".join(str(error).split())}'
                             ) from None
        if not isinstance(self.num_images, int) or \
                isinstance(self.num_images, bool) or self.num_images < 1:
            raise ValueError(f'num_images must be an int >= 1, got '
                             f'{self.num_images!r}')
        if not isinstance(self.calibration_batch_size, int) or \
                self.calibration_batch_size < 1:
            raise ValueError('calibration_batch_size must be an int >= 1, '
                             f'got {self.calibration_batch_size!r}')
        self.generator = _plain(self.generator or DEFAULT_GENERATOR)
        if not isinstance(self.generator, dict) or \
                'type' not in self.generator:
            raise ValueError(f'generator must be a config dict with a type, '
                             f'got {self.generator!r}')
        if self.calibrator is not None:
            self.calibrator = _plain(self.calibrator)
            if not isinstance(self.calibrator, dict) or \
                    'type' not in self.calibrator:
                raise ValueError('calibrator must be a config dict with a '
                                 f'type or None, got {self.calibrator!r}')
        if self.resolution is not None:
            resolution = self.resolution
            if isinstance(resolution, int):
                resolution = (resolution, resolution)
            if not isinstance(resolution, (list, tuple)) or \
                    len(resolution) != 2 or not all(
                        isinstance(side, int) and side >= 1
                        for side in resolution):
                raise ValueError(f'resolution must be None, a positive int '
                                 f'or (height, width), got '
                                 f'{self.resolution!r}')
            self.resolution = tuple(resolution)

    @classmethod
    def field_names(cls) -> Tuple[str, ...]:
        """Names of the fields, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, cfg: Optional[Mapping] = None) -> 'QuantLoopConfig':
        """Build from ``test_cfg`` (a dict or mmengine ConfigDict).

        The keys of mmengine's TestLoop (``type``, ``fp16``, ``_scope_``)
        are ignored; any other unknown key is an error.

        Args:
            cfg (Mapping, optional): The loop config. Defaults to None
                (every default).

        Raises:
            ValueError: On unknown fields (``'has unknown field(s) ...'``,
                naming them and the known ones) or a bad value (the message
                starts with the field's name).
        """
        if isinstance(cfg, QuantLoopConfig):
            return cfg
        fields = {key: value for key, value in dict(cfg or {}).items()
                  if key not in TEST_LOOP_KEYS}
        unknown = sorted(set(fields) - set(cls.field_names()))
        if unknown:
            raise ValueError(f'has unknown field(s) {unknown}; expected '
                             f'some of {sorted(cls.field_names())}')
        return cls(**fields)
