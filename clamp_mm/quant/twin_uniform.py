"""Twin-uniform quantizer (PTQ4ViT) for softmax and post-GELU values."""
from typing import Optional

import torch

from clamp_mm.registry import QUANTIZERS
from .primitives import twin_uniform_fake_quantize
from .tensor_quantizer import TensorQuantizer

#: Largest power-of-two ratio tried between the coarse and the fine step.
MAX_RATIO_EXPONENT = 16
#: Values per calibration batch kept for choosing the step ratio.
MAX_SAMPLES = 2**16


@QUANTIZERS.register_module()
class TwinUniformQuantizer(TensorQuantizer):
    """Two uniform ranges whose steps differ by a power of two (PTQ4ViT).

    The coarse step comes from the observed range: ``max_val / (2^(b-1) -
    1)``, so the coarse range covers what the observer chose. The fine step
    is ``coarse / 2^k`` with the integer ``k`` (buffer ``ratio_exponent``)
    that gives the smallest squared error on the calibration values; the
    power-of-two ratio keeps both ranges on one shifted integer grid, as
    PTQ4ViT requires. ``signed=False`` (softmax): small values take the fine
    range; ``signed=True`` (post-GELU): negative values take the fine range.
    Per tensor; not mappable to plain uniform integer kernels.

    Args:
        bits (int): Bit-width including the range bit, 2..8 (2 bits: one
            level above zero in each range). Defaults to 8.
        signed (bool): Whether the fine range holds the negative values
            (post-GELU) rather than the small positive ones (softmax).
            Defaults to False.
        observer (dict, optional): See :class:`TensorQuantizer`.
        point (str): See :class:`TensorQuantizer`.
    """

    def __init__(self,
                 bits: int = 8,
                 signed: bool = False,
                 observer: Optional[dict] = None,
                 point: str = '') -> None:
        super().__init__(bits=bits, observer=observer, point=point)
        self.signed = signed
        self.kind = 'twin_uniform'
        self.register_buffer('ratio_exponent', torch.zeros(()))
        self._samples = []

    def observe(self, x: torch.Tensor) -> None:
        super().observe(x)
        flat = x.detach().float().reshape(-1)
        if flat.numel() > MAX_SAMPLES:
            flat = flat[::-(-flat.numel() // MAX_SAMPLES)]
        self._samples.append(flat)

    def compute_qparams(self) -> None:
        """Range from the observer, then the step ratio by squared error."""
        samples = torch.cat(self._samples) if self._samples else None
        self._samples = []
        super().compute_qparams()
        if samples is None:
            return
        best_error = None
        for exponent in range(MAX_RATIO_EXPONENT + 1):
            self.ratio_exponent.fill_(exponent)
            error = (self.fake_quantize(samples) - samples).pow(2).mean()
            if best_error is None or error < best_error:
                best_error, best_exponent = error, exponent
        self.ratio_exponent.fill_(best_exponent)

    def update_qparams_from_range(self) -> None:
        if not self.is_calibrated:
            raise RuntimeError(f'{self._describe()} has no stored range')
        largest = torch.clamp(self.max_val, min=1e-8)
        self.scale.copy_(largest / (2**(self.bits - 1) - 1))
        self.zero_point.zero_()

    def fake_quantize(self, x: torch.Tensor) -> torch.Tensor:
        small_scale = self.scale * torch.pow(2.0, -self.ratio_exponent)
        return twin_uniform_fake_quantize(x, self.scale, small_scale,
                                          self.bits, self.signed)

    def extra_repr(self) -> str:
        return super().extra_repr() + f', signed={self.signed}'
