"""Power-of-two factor (PTF) quantizer of FQ-ViT for LayerNorm inputs."""
from typing import Optional

import torch

from clamp_mm.registry import QUANTIZERS
from .primitives import calculate_qparams, fake_quantize
from .tensor_quantizer import TensorQuantizer

#: FQ-ViT's factors: 2^0 .. 2^3.
DEFAULT_MAX_FACTOR_EXPONENT = 3


@QUANTIZERS.register_module()
class PowerOfTwoFactorQuantizer(TensorQuantizer):
    """One per-tensor scale times a power-of-two factor per channel.

    The inputs of LayerNorm (block outputs, the residual stream) differ by
    orders of magnitude between channels. FQ-ViT keeps them integer-friendly
    with channel ``c``'s step ``scale * 2^alpha_c``, ``alpha_c`` in
    ``0 .. max_factor_exponent`` and one zero point: the integer codes of
    every channel share one scale and differ only by a bit shift.

    Calibration: the observer gives a range per channel (minmax, OMSE or
    percentile, each per channel); the tensor range covers all channels and
    sets the coarsest step ``scale * 2^K`` and the zero point; each
    channel's factor is the smallest one whose codes hold the channel's
    own range. The buffers ``scale``, ``zero_point``, ``min_val``,
    ``max_val`` are per tensor, so a search treats it as one per-tensor
    quantizer; ``factor_exponent`` (C,) holds the ``alpha_c``.

    Args:
        num_channels (int): Channels along ``channel_axis``.
        bits (int): Bit-width, 2..8. Defaults to 8.
        channel_axis (int): Axis of the channels. Defaults to -1 (tokens
            are channel-last in every supported family).
        max_factor_exponent (int): ``K``. Defaults to 3.
        observer (dict, optional): See :class:`TensorQuantizer`; it is
            made per channel.
        point (str): See :class:`TensorQuantizer`.
    """

    def __init__(self,
                 num_channels: int,
                 bits: int = 8,
                 channel_axis: int = -1,
                 max_factor_exponent: int = DEFAULT_MAX_FACTOR_EXPONENT,
                 observer: Optional[dict] = None,
                 point: str = '') -> None:
        if not isinstance(num_channels, int) or num_channels < 1:
            raise ValueError('num_channels must be a positive int, got '
                             f'{num_channels!r}')
        if not 0 <= max_factor_exponent <= 8:
            raise ValueError('max_factor_exponent must be in 0..8, got '
                             f'{max_factor_exponent!r}')
        super().__init__(bits=bits, observer=observer, point=point)
        self.factor_axis = channel_axis
        self.observer.channel_axis = channel_axis
        self.max_factor_exponent = max_factor_exponent
        self.register_buffer('factor_exponent', torch.zeros(num_channels))

    @property
    def kernel_kind(self) -> str:
        return 'uniform-per-channel'

    def compute_qparams(self) -> None:
        channel_min, channel_max = self.observer.compute_range(
            self.bits, self.symmetric, 'uniform')
        self.observer.reset()
        self.min_val.copy_(channel_min.min())
        self.max_val.copy_(channel_max.max())
        self.update_qparams_from_range()
        qmin, qmax = self.integer_range
        zero_point = self.zero_point
        # Steps (in units of the base scale) each channel needs so that its
        # codes reach its maximum above and its minimum below the zero point.
        tiny = torch.finfo(torch.float32).tiny
        need_high = channel_max.clamp(min=0) / (
            self.scale * torch.clamp(qmax - zero_point, min=tiny))
        need_low = (-channel_min).clamp(min=0) / (
            self.scale * torch.clamp(zero_point - qmin, min=tiny))
        needed = torch.clamp(torch.maximum(need_high, need_low), min=tiny)
        exponent = torch.ceil(torch.log2(needed) - 1e-6)
        self.factor_exponent.copy_(
            exponent.clamp(0, self.max_factor_exponent))

    def update_qparams_from_range(self) -> None:
        if not self.is_calibrated:
            raise RuntimeError(f'{self._describe()} has no stored range')
        coarse_scale, zero_point = calculate_qparams(self.min_val,
                                                     self.max_val, self.bits,
                                                     self.symmetric)
        self.scale.copy_(coarse_scale / 2**self.max_factor_exponent)
        self.zero_point.copy_(zero_point)

    def channel_scales(self) -> torch.Tensor:
        """The step of each channel, ``scale * 2^factor_exponent`` (C,)."""
        return self.scale * torch.pow(2.0, self.factor_exponent)

    def fake_quantize(self, x: torch.Tensor) -> torch.Tensor:
        scales = self.channel_scales()
        return fake_quantize(x, scales,
                             self.zero_point.expand_as(scales), self.bits,
                             self.symmetric, self.factor_axis)

    def extra_repr(self) -> str:
        return (super().extra_repr() +
                f', power_of_two_factors(axis={self.factor_axis}, '
                f'max=2^{self.max_factor_exponent})')
