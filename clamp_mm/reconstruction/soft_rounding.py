"""AdaRound's soft rounding of one weight, with a learnable step size.

While a block is reconstructed, the weight quantizer of each of its layers
is replaced by a :class:`SoftRoundingWeight`: the weight's integer codes are
``floor(w / s0) + h(V)`` with ``h`` the rectified sigmoid of AdaRound
(``clip(sigmoid(V) * (zeta - gamma) + gamma, 0, 1)``), ``s0`` the
observers' step; the step itself is ``s0 * exp(r)`` with ``r`` learned too
(Genie-style joint learning: the codes keep their meaning). At the end
:meth:`SoftRoundingWeight.commit` rounds hard (``h >= 0.5`` rounds up) and
writes the codes into the original quantizer as a rounding offset, with
the learned step.
"""
import torch
from torch import nn

from clamp_mm.quant.primitives import broadcast_to_axis
from clamp_mm.quant.tensor_quantizer import TensorQuantizer

#: AdaRound's stretch of the sigmoid, so that h reaches 0 and 1 exactly.
ZETA, GAMMA = 1.1, -0.1


def rectified_sigmoid(variable: torch.Tensor) -> torch.Tensor:
    """``h(V)`` of AdaRound, in [0, 1]."""
    return torch.clamp(torch.sigmoid(variable) * (ZETA - GAMMA) + GAMMA, 0,
                       1)


def inverse_rectified_sigmoid(fraction: torch.Tensor) -> torch.Tensor:
    """The ``V`` with ``h(V) = fraction`` (fraction in [0, 1))."""
    inner = (fraction - GAMMA) / (ZETA - GAMMA)
    return -torch.log(1.0 / inner - 1.0)


class SoftRoundingWeight(nn.Module):
    """Stands in for a weight quantizer while its block is reconstructed.

    Args:
        quantizer (TensorQuantizer): The layer's calibrated, uniform weight
            quantizer (referenced, not owned; left untouched until
            :meth:`commit`).
        weight (Tensor): The layer's float weight.
        learn_rounding (bool): Learn ``V``; False keeps nearest rounding
            (``h`` fixed at 0 or 1).
        learn_scale (bool): Learn the log step ratio ``r``.
    """

    def __init__(self, quantizer: TensorQuantizer, weight: torch.Tensor,
                 learn_rounding: bool, learn_scale: bool) -> None:
        super().__init__()
        self.__dict__['quantizer'] = quantizer
        self.axis = quantizer.channel_axis
        self.qmin, self.qmax = quantizer.integer_range
        weight = weight.detach()
        scale = broadcast_to_axis(quantizer.scale.detach(), weight,
                                  self.axis)
        ratio = weight / scale
        self.register_buffer('floor_codes', torch.floor(ratio))
        self.register_buffer('initial_scale', quantizer.scale.detach().clone())
        fraction = ratio - self.floor_codes
        if learn_rounding:
            self.variable = nn.Parameter(inverse_rectified_sigmoid(
                fraction.clamp(0.0, 0.999)))
        else:
            # Nearest rounding, as a fixed V.
            self.register_buffer('variable', torch.where(
                fraction >= 0.5, torch.full_like(fraction, 10.0),
                torch.full_like(fraction, -10.0)))
        self.log_scale_ratio = nn.Parameter(
            torch.zeros_like(quantizer.scale),
            requires_grad=learn_scale)
        self.hard = False

    def soft_rounding(self) -> torch.Tensor:
        """``h(V)``: the rounding-up share of each weight, in [0, 1]."""
        return rectified_sigmoid(self.variable)

    def regulariser(self, beta: float) -> torch.Tensor:
        """AdaRound's ``sum(1 - |2h - 1|^beta)``: zero when every ``h`` is
        0 or 1."""
        if not isinstance(self.variable, nn.Parameter):
            return self.variable.new_zeros(())
        soft = self.soft_rounding()
        return (1 - (2 * soft - 1).abs().pow(beta)).sum()

    def scale(self) -> torch.Tensor:
        """The current step (per channel)."""
        return self.initial_scale * torch.exp(self.log_scale_ratio)

    def codes(self) -> torch.Tensor:
        """Integer codes (zero point included), soft or hard, clipped."""
        up = ((self.variable >= 0).to(self.floor_codes.dtype) if self.hard
              else self.soft_rounding())
        zero_point = broadcast_to_axis(self.quantizer.zero_point,
                                       self.floor_codes, self.axis)
        return torch.clamp(self.floor_codes + up + zero_point, self.qmin,
                           self.qmax)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        zero_point = broadcast_to_axis(self.quantizer.zero_point, weight,
                                       self.axis)
        scale = broadcast_to_axis(self.scale(), weight, self.axis)
        return (self.codes() - zero_point) * scale

    @torch.no_grad()
    def commit(self, weight: torch.Tensor) -> None:
        """Write the hard codes and the learned step into the quantizer.

        Its range is scaled with the step (so ``set_range`` style updates
        start from it); its rounding offset makes the usual forward pass
        give exactly the codes learned here.
        """
        quantizer = self.quantizer
        self.hard = True
        codes = self.codes()
        scale = self.scale().detach()
        ratio = scale / quantizer.scale
        quantizer.min_val.mul_(ratio)
        quantizer.max_val.mul_(ratio)
        quantizer.scale.copy_(scale)
        quantizer.set_rounding_offset(
            quantizer.offset_for_codes(weight.detach(), codes))
