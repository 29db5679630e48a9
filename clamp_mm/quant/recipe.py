"""The quantization recipe: what to quantize, with how many bits, and how.

A recipe is a plain dataclass, validated when it is built, so a bad value
fails at config load time with a message naming the field. It round-trips
through a dict (:meth:`QuantRecipe.from_dict` / :meth:`QuantRecipe.to_dict`)
so it can live in an mmengine config::

    quant_recipe = dict(weight_bits=4, act_bits=8,
                        overrides={'blocks.0.*': dict(weight_bits=8)})
"""
import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

from .observers import OBSERVER_NAMES, build_observer
from .overrides_text import OVERRIDES_EXAMPLE, parse_overrides_text
from .presets import PRESETS
from .protocols import PROTOCOLS
from .quantizer_types import QUANTIZER_TYPE_POINTS

#: Quant points, i.e. the roles a TensorQuantizer can have.
#: ``weight``: weights of Linear/Conv2d (per output channel).
#: ``input``: input of a Linear/Conv2d (qkv input after LayerNorm, fc1
#: input, patch-embedding input, ...).
#: ``q``, ``k``, ``v``: query (after scaling), key, value.
#: ``score``: attention scores before softmax.
#: ``softmax``: attention probabilities after softmax.
#: ``attn_output``: attn @ v, the input of the output projection.
#: ``post_gelu``: the MLP hidden activation (fc2 input).
#: ``block_output``: the output of each transformer block.
QUANT_POINTS = ('weight', 'input', 'q', 'k', 'v', 'score', 'softmax',
                'attn_output', 'post_gelu', 'block_output')
#: Points switched on and off together by ``quantize_attention``.
ATTENTION_POINTS = ('q', 'k', 'v', 'score', 'softmax', 'attn_output')
#: Quantization scopes.
SCOPES = ('backbone', 'model')
#: Keys allowed in a per-layer override.
OVERRIDE_KEYS = ('weight_bits', 'act_bits')
MIN_BITS, MAX_BITS = 2, 8
#: Quantizer types of the default recipe (preset ``'clamp_data_free'``).
DEFAULT_POINT_QUANTIZERS = {'block_output': 'ptf', 'post_gelu': 'twin_uniform'}
#: Quantizer types allowed for the softmax probabilities.
SOFTMAX_QUANTIZERS = tuple(name for name, points in
                           QUANTIZER_TYPE_POINTS.items() if 'softmax' in points)


def _check_bits(field_name: str, bits: Any) -> None:
    if isinstance(bits, bool) or not isinstance(
            bits, int) or not (MIN_BITS <= bits <= MAX_BITS):
        raise ValueError(f'{field_name} must be an int in '
                         f'{MIN_BITS}..{MAX_BITS}, got {bits!r}')


def _check_choice(field_name: str, value: Any, allowed) -> None:
    if value not in allowed:
        raise ValueError(f'{field_name} must be one of {sorted(allowed)}, '
                         f'got {value!r}')


@dataclass
class QuantRecipe:
    """What to quantize and how.

    The defaults are the preset ``'clamp_data_free'``, chosen by measurement
    on a validation split with CLAMP images (docs/quantizer_ablation.md);
    calibrated on real images, ``preset='clamp_full'`` (percentile
    activation clipping) can be better at 4-bit activations. The project's
    first recipe (min-max everywhere, uniform softmax) is ``preset='minmax'``.

    Args:
        weight_bits (int): Weight bit-width, 2..8. Defaults to 4.
        act_bits (int): Activation bit-width, 2..8. Defaults to 8.
        weight_symmetric (bool): Symmetric (signed, zero point 0) weight
            codes instead of asymmetric. Defaults to False.
        weight_per_channel (bool): One weight range per output channel
            instead of one per tensor. Defaults to True.
        weight_observer (str): Observer of weights: ``'minmax'``,
            ``'percentile'`` or ``'omse'`` (per channel). Defaults to
            ``'omse'``.
        act_observer (str): Observer of activations, same choices.
            Defaults to ``'minmax'``.
        point_observers (dict[str, str]): Observer per quant point (a key
            of :data:`QUANT_POINTS`), overriding the two above, e.g.
            ``{'softmax': 'percentile'}``. Defaults to ``{}``.
        observer_kwargs (dict[str, dict]): Extra arguments per observer
            name, e.g. ``{'percentile': dict(percentile=99.9)}``.
            Defaults to ``{}``.
        quantize_attention (bool): Quantize inside attention (q, k, v,
            scores, softmax, attn @ v). Defaults to True.
        quantize_post_gelu (bool): Quantize the MLP hidden activation (fc2
            input). Defaults to True.
        quantize_block_output (bool): Quantize each block's output.
            Defaults to True.
        quantize_patch_embed (bool): Quantize the patch embedding
            convolution. Defaults to True.
        patch_embed_input_bits (int, optional): Bit-width of the patch
            embedding's input, i.e. of the image, whatever ``act_bits``
            says; None gives it ``act_bits`` like every other input. Images
            are 8-bit data, and RepQ-ViT also quantizes every convolution
            input at 8 bits; at 4 bits the image costs the dense models most
            of their W4/A4 loss (docs/patch_embed_input_bits.md). Defaults
            to 8.
        quantize_head (bool): Quantize the classification head.
            Defaults to False (the head stays float).
        softmax_quantizer (str): Quantizer of the attention
            probabilities: ``'uniform'``, ``'log2'`` (power-of-two levels,
            FQ-ViT), ``'log_sqrt2'`` (RepQ-ViT) or ``'twin_uniform'``
            (PTQ4ViT). Defaults to ``'log_sqrt2'``.
        point_quantizers (dict[str, str]): Quantizer type per activation
            quant point (see :mod:`clamp_mm.quant.quantizer_types`), e.g.
            ``{'post_gelu': 'twin_uniform', 'block_output': 'ptf'}``;
            a ``'softmax'`` entry wins over ``softmax_quantizer``; points
            not named are uniform. Defaults to
            ``{'block_output': 'ptf', 'post_gelu': 'twin_uniform'}``.
        reparameterize_layernorm (bool): Calibrate the inputs of the
            Linears fed by a LayerNorm per channel, then fold the factors
            into the LayerNorm and the Linear (RepQ-ViT), so they are per
            tensor at inference. Defaults to True.
        protocol (str): Which quant points exist: ``'full'`` (all) or
            ``'linear'`` (Linear/Conv inputs and attention matmul
            operands; block outputs and scores float), see
            :mod:`clamp_mm.quant.protocols`. The ``quantize_*`` flags
            switch points off on top of it. Defaults to ``'full'``.
        preset (str): Name of a preset in :mod:`clamp_mm.quant.presets`
            whose values fill the fields left at their class defaults
            (:meth:`from_dict` applies it before the given fields, so any
            field given there wins). Defaults to ``''`` (none).
        scope (str): ``'backbone'``: only the backbone (plus the head when
            ``quantize_head``), the protocol for detectors and segmentors;
            ``'model'``: every Linear/Conv2d in the model (necks, heads).
            Defaults to ``'backbone'``.
        overrides (dict[str, dict]): Per-layer bit-widths, by wildcard
            (fnmatch) pattern on module names, e.g.
            ``{'blocks.11.mlp.fc2': dict(weight_bits=8, act_bits=8)}``.
            A pattern is matched against the name of the module that owns a
            quantizer and against the quantizer's own name; ``weight_bits``
            applies to weight quantizers, ``act_bits`` to the others. Later
            patterns win. A pattern that matches nothing is an error when
            the recipe is applied. Defaults to ``{}``.
    """
    weight_bits: int = 4
    act_bits: int = 8
    weight_symmetric: bool = False
    weight_per_channel: bool = True
    weight_observer: str = 'omse'
    act_observer: str = 'minmax'
    point_observers: Dict[str, str] = field(default_factory=dict)
    observer_kwargs: Dict[str, dict] = field(default_factory=dict)
    quantize_attention: bool = True
    quantize_post_gelu: bool = True
    quantize_block_output: bool = True
    quantize_patch_embed: bool = True
    patch_embed_input_bits: Optional[int] = 8
    quantize_head: bool = False
    softmax_quantizer: str = 'log_sqrt2'
    scope: str = 'backbone'
    overrides: Dict[str, dict] = field(default_factory=dict)
    point_quantizers: Dict[str, str] = field(
        default_factory=lambda: dict(DEFAULT_POINT_QUANTIZERS))
    reparameterize_layernorm: bool = True
    protocol: str = 'full'
    preset: str = ''

    def __post_init__(self) -> None:
        if self.preset:
            _check_choice('preset', self.preset, PRESETS)
            defaults = type(self)()
            for name, value in PRESETS[self.preset].items():
                if getattr(self, name) == getattr(defaults, name):
                    setattr(self, name, copy.deepcopy(value))
        _check_bits('weight_bits', self.weight_bits)
        _check_bits('act_bits', self.act_bits)
        if self.patch_embed_input_bits is not None:
            _check_bits('patch_embed_input_bits (or None)',
                        self.patch_embed_input_bits)
        _check_choice('weight_observer', self.weight_observer, OBSERVER_NAMES)
        _check_choice('act_observer', self.act_observer, OBSERVER_NAMES)
        self.point_observers = dict(self.point_observers)
        for point, observer in self.point_observers.items():
            _check_choice('point_observers key', point, QUANT_POINTS)
            _check_choice(f'point_observers[{point!r}]', observer,
                          OBSERVER_NAMES)
        self.observer_kwargs = {
            name: dict(kwargs)
            for name, kwargs in dict(self.observer_kwargs).items()
        }
        for name, kwargs in self.observer_kwargs.items():
            _check_choice('observer_kwargs key', name, OBSERVER_NAMES)
            try:  # fail now, not in the middle of a model swap
                build_observer(dict(type=OBSERVER_NAMES[name], **kwargs))
            except (TypeError, ValueError) as error:
                raise ValueError(f'observer_kwargs[{name!r}]={kwargs} is not '
                                 f'valid for that observer: {error}') from None
        _check_choice('softmax_quantizer', self.softmax_quantizer,
                      SOFTMAX_QUANTIZERS)
        self.point_quantizers = dict(self.point_quantizers)
        for point, type_name in self.point_quantizers.items():
            _check_choice('point_quantizers key', point, QUANT_POINTS)
            allowed = [
                name for name, points in QUANTIZER_TYPE_POINTS.items()
                if point in points
            ]
            _check_choice(f'point_quantizers[{point!r}]', type_name,
                          allowed)
        _check_choice('protocol', self.protocol, PROTOCOLS)
        _check_choice('scope', self.scope, SCOPES)
        for flag in ('weight_symmetric', 'weight_per_channel',
                     'quantize_attention', 'quantize_post_gelu',
                     'quantize_block_output', 'quantize_patch_embed',
                     'quantize_head', 'reparameterize_layernorm'):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f'{flag} must be a bool, got '
                                 f'{getattr(self, flag)!r}')
        self.overrides = _overrides_as_dicts(self.overrides)
        for pattern, settings in self.overrides.items():
            if not isinstance(pattern, str) or not pattern:
                raise ValueError('overrides keys must be non-empty module '
                                 f'name patterns, got {pattern!r}')
            if not settings:
                raise ValueError(f'overrides[{pattern!r}] is empty; expected '
                                 f'some of {list(OVERRIDE_KEYS)}')
            for key, bits in settings.items():
                _check_choice(f'overrides[{pattern!r}] key', key,
                              OVERRIDE_KEYS)
                _check_bits(f'overrides[{pattern!r}][{key!r}]', bits)

    # ---- per point ------------------------------------------------------------
    def point_enabled(self, point: str) -> bool:
        """Whether quant point ``point`` is on in this recipe."""
        _check_choice('point', point, QUANT_POINTS)
        if point not in PROTOCOLS[self.protocol]:
            return False
        if point in ATTENTION_POINTS:
            return self.quantize_attention
        if point == 'post_gelu':
            return self.quantize_post_gelu
        if point == 'block_output':
            return self.quantize_block_output
        return True

    def observer_cfg(self, point: str) -> dict:
        """Observer config (``dict(type=..., **kwargs)``) for a quant point."""
        _check_choice('point', point, QUANT_POINTS)
        default = self.weight_observer if point == 'weight' else \
            self.act_observer
        name = self.point_observers.get(point, default)
        return dict(type=OBSERVER_NAMES[name],
                    **self.observer_kwargs.get(name, {}))

    def quantizer_type(self, point: str) -> str:
        """Quantizer type name (``'uniform'``, ``'ptf'`` ...) of an
        activation quant point."""
        _check_choice('point', point, QUANT_POINTS)
        default = self.softmax_quantizer if point == 'softmax' else 'uniform'
        return self.point_quantizers.get(point, default)

    # ---- dict round trip -----------------------------------------------------
    @classmethod
    def from_dict(cls, cfg: Mapping) -> 'QuantRecipe':
        """Build from a dict or mmengine ConfigDict.

        Raises:
            ValueError: On unknown keys, naming them and the known fields.
        """
        if isinstance(cfg, QuantRecipe):
            return cfg
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f'unknown QuantRecipe field(s) {unknown}; '
                             f'expected some of {sorted(known)}')
        values = {key: _plain(value) for key, value in cfg.items()}
        preset = values.pop('preset', '') or ''
        if not preset:
            return cls(**values)
        _check_choice('preset', preset, PRESETS)
        recipe = cls(**{**copy.deepcopy(PRESETS[preset]), **values})
        recipe.preset = preset
        return recipe

    def to_dict(self) -> dict:
        """Plain-dict form, loadable by :meth:`from_dict`."""
        return dataclasses.asdict(self)


def _overrides_as_dicts(overrides: Any) -> Dict[str, dict]:
    """``overrides`` as ``{pattern: dict}``; text (from --cfg-options) is
    parsed, anything else not a mapping of mappings is refused."""
    if isinstance(overrides, str):
        overrides = parse_overrides_text(overrides)
    if not isinstance(overrides, Mapping) or not all(
            isinstance(settings, Mapping) for settings in overrides.values()):
        raise ValueError(f'overrides is {overrides!r}, expected a dict of '
                         'module-name pattern -> dict(weight_bits=..., '
                         f'act_bits=...), e.g. {OVERRIDES_EXAMPLE}')
    return {pattern: dict(settings)
            for pattern, settings in overrides.items()}


def _plain(value: Any) -> Any:
    """Turn ConfigDicts (and nested mappings) into plain dicts."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value
