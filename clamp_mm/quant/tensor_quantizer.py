"""The stateful fake quantizer: one per quant point."""
from typing import Iterator, Optional, Tuple, Union

import torch
from torch import nn

from .observers import BaseObserver, build_observer
from .primitives import (broadcast_to_axis, calculate_qparams, fake_quantize,
                         fake_quantize_with_offset, integer_range,
                         log_fake_quantize, nearest_codes)

#: The modes of a quantizer.
#: ``'off'``: identity. ``'calibrate'``: identity, and the observer records
#: the input. ``'quantize'``: fake quantization with the stored parameters.
QUANT_MODES = ('off', 'calibrate', 'quantize')
#: The quantizer kinds: uniform steps, or logarithmic levels for softmax:
#: powers of two (``'log2'``, FQ-ViT) or of sqrt(2) (``'log_sqrt2'``,
#: RepQ-ViT).
QUANTIZER_KINDS = ('uniform', 'log2', 'log_sqrt2')
#: Exponent step (in octaves) between the levels of each logarithmic kind.
LOG_KIND_STEPS = {'log2': 1.0, 'log_sqrt2': 0.5}


class TensorQuantizer(nn.Module):
    """Fake quantizer of one tensor, per tensor or per channel.

    The quantization parameters are buffers (saved in checkpoints):
    ``scale`` and ``zero_point`` (what quantization uses), ``min_val`` and
    ``max_val`` (the range they were computed from; ``+inf``/``-inf``
    while uncalibrated). All four are scalars per tensor, or shape (C,) per
    channel.

    Life cycle: ``mode='calibrate'`` resets the observer, then every forward
    is recorded (the output is the input). Leaving ``'calibrate'`` for
    ``'quantize'`` turns what was observed into ``min_val``/``max_val`` and
    ``scale``/``zero_point``, then drops the observer's data. Entering
    ``'quantize'`` without fresh observations keeps the stored parameters,
    so scales edited by a search or loaded from a checkpoint survive.

    Empty calibration: a quantizer that saw no data (an unused layer) stays
    uncalibrated; calling it in ``'quantize'`` mode raises a RuntimeError
    naming it, rather than silently passing floats through. A constant
    tensor is handled: the range is widened to include zero and the scale is
    never zero.

    Learned rounding: a uniform quantizer may hold ``rounding_offset``, an
    integer tensor of the quantized tensor's shape added to the nearest
    integer code before clipping (AdaRound-style rounding chosen by a block
    reconstruction, :meth:`set_rounding_offset`). It is None by default and
    then absent from the state dict; a state dict that has it installs it
    on load. Changing the bit-width drops it.

    Gradients: rounding uses the straight-through estimator, so the output
    has a gradient with respect to the input (zero where clipped) and, if
    ``scale`` is made a parameter by the caller, with respect to the scale.

    Args:
        bits (int): Bit-width, 2..8. Defaults to 8.
        symmetric (bool): Signed codes centred on zero when True, unsigned
            with a zero point otherwise. Defaults to False.
        channel_axis (int, optional): Axis of the input holding channels,
            for per-channel parameters; None for per tensor.
            Defaults to None.
        num_channels (int, optional): Number of channels; required when
            ``channel_axis`` is given (it fixes the buffer shapes, so
            checkpoints load). Defaults to None.
        kind (str): ``'uniform'``, ``'log2'`` or ``'log_sqrt2'``
            (logarithmic levels for non-negative inputs such as softmax).
            Defaults to ``'uniform'``.
        observer (dict | BaseObserver, optional): Observer config for
            ``OBSERVERS`` or an instance; its ``channel_axis`` is set to
            this quantizer's. Defaults to
            ``dict(type='clamp_mm.MinMaxObserver')``.
        point (str): Which quant point this is (``'weight'``, ``'input'``,
            ``'softmax'`` ...), for summaries. Defaults to ``''``.
    """

    def __init__(self,
                 bits: int = 8,
                 symmetric: bool = False,
                 channel_axis: Optional[int] = None,
                 num_channels: Optional[int] = None,
                 kind: str = 'uniform',
                 observer: Optional[Union[dict, BaseObserver]] = None,
                 point: str = '') -> None:
        super().__init__()
        if kind not in QUANTIZER_KINDS:
            raise ValueError(
                f'kind must be one of {QUANTIZER_KINDS}, got {kind!r}')
        if (channel_axis is None) != (num_channels is None):
            raise ValueError(
                'channel_axis and num_channels must be given together, got '
                f'channel_axis={channel_axis}, num_channels={num_channels}')
        if kind in LOG_KIND_STEPS and channel_axis is not None:
            raise ValueError(f'a {kind} quantizer is per tensor; got '
                             f'channel_axis={channel_axis}')
        self._check_bits(bits)
        self.bits = bits
        self.symmetric = symmetric
        self.channel_axis = channel_axis
        self.kind = kind
        self.point = point
        #: Dotted name in the model; set by :func:`set_quant_mode`, used
        #: in error messages.
        self.name = ''
        if observer is None:
            observer = dict(type='clamp_mm.MinMaxObserver')
        if isinstance(observer, dict):
            observer = build_observer(dict(observer,
                                           channel_axis=channel_axis))
        else:
            observer.channel_axis = channel_axis
        self.observer = observer
        shape = () if num_channels is None else (num_channels, )
        self.register_buffer('scale', torch.ones(shape))
        self.register_buffer('zero_point', torch.zeros(shape))
        self.register_buffer('min_val', torch.full(shape, float('inf')))
        self.register_buffer('max_val', torch.full(shape, float('-inf')))
        self.register_buffer('rounding_offset', None)
        self._mode = 'off'
        #: Export mode, switched by :func:`clamp_mm.quant.export_mode`: the
        #: calibration check was made once before tracing (forward has no
        #: data-dependent branch) and uniform ranges are written in 8-bit
        #: form (:meth:`container_fake_quantize`).
        self.exporting = False

    @staticmethod
    def _check_bits(bits: int) -> None:
        if not isinstance(bits, int) or not 2 <= bits <= 8:
            raise ValueError(f'bits must be an int in 2..8, got {bits!r}')

    # ---- state ---------------------------------------------------------------
    @property
    def mode(self) -> str:
        """``'off'``, ``'calibrate'`` or ``'quantize'``."""
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in QUANT_MODES:
            raise ValueError(
                f'mode must be one of {QUANT_MODES}, got {mode!r}')
        if mode == 'calibrate':
            self.observer.reset()
        elif self._mode == 'calibrate' and self.observer.has_data:
            self.compute_qparams()
        self._mode = mode

    @property
    def is_calibrated(self) -> bool:
        """Whether a range is stored (from calibration or a checkpoint)."""
        return bool(
            torch.isfinite(self.min_val).all()
            and torch.isfinite(self.max_val).all())

    @property
    def kernel_kind(self) -> str:
        """What an integer back end would have to run for this quantizer.

        ``'uniform-per-tensor'`` or ``'uniform-per-channel'`` (integer
        kernels exist), else the level grid's name (``'log2'``,
        ``'log-sqrt2'``, ``'twin-uniform'``), which needs a custom kernel.
        """
        if self.kind == 'uniform':
            return ('uniform-per-tensor'
                    if self.channel_axis is None else 'uniform-per-channel')
        return self.kind.replace('_', '-')

    @property
    def integer_mappable(self) -> bool:
        """Whether standard integer (uniform) kernels can run this
        quantizer; False for log2, log-sqrt(2) and twin-uniform levels."""
        return self.kernel_kind.startswith('uniform')

    @property
    def integer_range(self) -> Tuple[int, int]:
        """``(qmin, qmax)`` of the integer codes."""
        return integer_range(self.bits, self.symmetric)

    def observe(self, x: torch.Tensor) -> None:
        """Record ``x`` in the observer (what calibrate mode does)."""
        self.observer.update(x)

    def compute_qparams(self) -> None:
        """Turn the observer's data into the range, scale and zero point.

        Raises:
            RuntimeError: When the observer has seen nothing.
        """
        min_val, max_val = self.observer.compute_range(self.bits,
                                                       self.symmetric,
                                                       self.kind)
        self.set_range(min_val, max_val)
        self.observer.reset()

    def set_range(self, min_val: torch.Tensor, max_val: torch.Tensor) -> None:
        """Store a range and recompute scale and zero point from it."""
        self.min_val.copy_(min_val)
        self.max_val.copy_(max_val)
        self.update_qparams_from_range()

    def update_qparams_from_range(self) -> None:
        """Recompute ``scale``/``zero_point`` from the stored range.

        For the logarithmic kinds the scale is the largest level
        (``max_val``) and the zero point is 0.
        """
        if not self.is_calibrated:
            raise RuntimeError(f'{self._describe()} has no stored range')
        if self.kind in LOG_KIND_STEPS:
            self.scale.copy_(torch.clamp(self.max_val, min=1e-8))
            self.zero_point.zero_()
            return
        scale, zero_point = calculate_qparams(self.min_val, self.max_val,
                                              self.bits, self.symmetric)
        self.scale.copy_(scale)
        self.zero_point.copy_(zero_point)

    def set_bits(self, bits: int) -> None:
        """Change the bit-width and rescale from the stored range.

        The range (``min_val``/``max_val``) is kept; ``scale`` and
        ``zero_point`` are recomputed for the new bit-width, so hand-tuned
        scales are replaced. Used by the mixed-precision search.

        Args:
            bits (int): New bit-width, 2..8.
        """
        self._check_bits(bits)
        if bits != self.bits:
            # Codes of another bit-width: the learned rounding is void.
            self.rounding_offset = None
        self.bits = bits
        if self.is_calibrated:
            self.update_qparams_from_range()

    def set_rounding_offset(self, offset: Optional[torch.Tensor]) -> None:
        """Store a learned rounding: integer codes ``nearest + offset``.

        Args:
            offset (Tensor, optional): Integer-valued offsets of the shape
                of the quantized tensor (a weight), or None to go back to
                nearest rounding.

        Raises:
            ValueError: When the quantizer is not uniform.
        """
        if offset is None:
            self.rounding_offset = None
            return
        if self.kind != 'uniform':
            raise ValueError(f'{self._describe()}: a learned rounding needs '
                             f'a uniform quantizer, not {self.kind!r}')
        self.rounding_offset = offset.detach().to(torch.int8).clone()

    def offset_for_codes(self, x: torch.Tensor,
                         codes: torch.Tensor) -> torch.Tensor:
        """The rounding offset that makes ``x`` quantize to ``codes``.

        Args:
            x (Tensor): The tensor (a weight).
            codes (Tensor): Wanted integer codes (zero point included),
                inside the integer range.

        Returns:
            Tensor: ``codes - (nearest code of x)``, as the forward pass
            computes the nearest code with the current scale.
        """
        nearest = nearest_codes(x, self.scale, self.zero_point,
                                self.channel_axis)
        return codes - nearest

    # ---- forward -------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._mode == 'off':
            return x
        if self._mode == 'calibrate':
            self.observe(x)
            return x
        if not self.exporting and not self.is_calibrated:
            raise RuntimeError(
                f'{self._describe()} is in quantize mode but was never '
                'calibrated: run forward passes in calibrate mode first '
                '(it saw no data), or turn it off')
        return self.fake_quantize(x)

    def fake_quantize(self, x: torch.Tensor) -> torch.Tensor:
        """Quantize-dequantize ``x`` with the stored parameters (what
        ``'quantize'`` mode does once calibrated); subclasses with other
        level grids override it."""
        if self.kind in LOG_KIND_STEPS:
            return log_fake_quantize(x, self.scale, self.bits,
                                     LOG_KIND_STEPS[self.kind])
        if self.exporting:
            return self.container_fake_quantize(x)
        if self.rounding_offset is not None:
            return fake_quantize_with_offset(x, self.scale, self.zero_point,
                                             self.rounding_offset, self.bits,
                                             self.symmetric,
                                             self.channel_axis)
        return fake_quantize(x, self.scale, self.zero_point, self.bits,
                             self.symmetric, self.channel_axis)

    def container_fake_quantize(self,
                                x: torch.Tensor,
                                clip: bool = True) -> torch.Tensor:
        """Uniform fake quantization in the form torch.onnx exports.

        The same values as :meth:`forward`, written as a clamp to this
        quantizer's range and a fake quantization over the full 8-bit range
        (int8 when symmetric, uint8 otherwise) with the same scale and zero
        point: torch.onnx turns the latter into QuantizeLinear +
        DequantizeLinear, and refuses narrower ranges.

        Args:
            x (Tensor): Input.
            clip (bool): Clamp to the ``bits``-bit range first; False for
                values already on it (a weight quantized once).
                Defaults to True.

        Returns:
            Tensor: Fake-quantized ``x``.
        """
        if clip and self.bits < 8:
            qmin, qmax = self.integer_range
            scale = broadcast_to_axis(self.scale, x, self.channel_axis)
            zero_point = broadcast_to_axis(self.zero_point, x,
                                           self.channel_axis)
            x = torch.clamp(x, (qmin - zero_point) * scale,
                            (qmax - zero_point) * scale)
        return fake_quantize(x, self.scale, self.zero_point, 8,
                             self.symmetric, self.channel_axis)

    def _describe(self) -> str:
        return f'TensorQuantizer {self.name or "(unnamed)"} ({self.point})'

    def extra_repr(self) -> str:
        granularity = ('per_tensor' if self.channel_axis is None else
                       f'per_channel(axis={self.channel_axis})')
        return (f'point={self.point!r}, bits={self.bits}, kind={self.kind}, '
                f'symmetric={self.symmetric}, {granularity}, '
                f'observer={type(self.observer).__name__}, mode={self._mode}')

    # A float checkpoint has no quantizer entries: leave this quantizer
    # uncalibrated instead of reporting missing keys, so float state dicts
    # load into swapped models with strict=True.
    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        own_keys = [prefix + name for name in self._buffers]
        if not any(key in state_dict for key in own_keys):
            return
        offset = state_dict.get(prefix + 'rounding_offset')
        if offset is not None and self.rounding_offset is None:
            # Installed by a reconstruction before the save: make room.
            self.rounding_offset = torch.zeros_like(offset,
                                                    device=self.scale.device)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)


def iter_quantizers(module: nn.Module,
                    prefix: str = '') -> Iterator[Tuple[str, TensorQuantizer]]:
    """Yield ``(dotted_name, quantizer)`` for every TensorQuantizer inside.

    Args:
        module (nn.Module): Model or sub-module.
        prefix (str): Prepended to names. Defaults to ``''``.
    """
    for name, child in module.named_modules(prefix=prefix):
        if isinstance(child, TensorQuantizer):
            yield name, child


def set_quant_mode(module: nn.Module, mode: str) -> nn.Module:
    """Put every quantizer inside ``module`` into ``mode``.

    Args:
        module (nn.Module): Model or sub-module.
        mode (str): ``'off'``, ``'calibrate'`` or ``'quantize'``.

    Returns:
        nn.Module: ``module``, for chaining.
    """
    if mode not in QUANT_MODES:
        raise ValueError(f'mode must be one of {QUANT_MODES}, got {mode!r}')
    for name, quantizer in iter_quantizers(module):
        if not quantizer.name:
            quantizer.name = name
        quantizer.mode = mode
    return module
