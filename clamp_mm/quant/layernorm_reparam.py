"""The post-LayerNorm quantizer of RepQ-ViT: calibrated per channel,
folded, then per tensor at inference."""
from typing import Optional, Sequence

import torch
from torch import nn

from clamp_mm.registry import QUANTIZERS
from .layernorm_fold import fold_channel_quantization, per_tensor_target
from .primitives import calculate_qparams
from .tensor_quantizer import TensorQuantizer


def _refresh_weight_quantizer(linear: nn.Module) -> None:
    """Make a Linear's weight quantizer follow its edited weight."""
    quantizer = getattr(linear, 'weight_quantizer', None)
    if not isinstance(quantizer, TensorQuantizer):
        return
    if quantizer.mode == 'calibrate':
        quantizer.observer.reset()
        quantizer.observe(linear.weight)
    elif quantizer.is_calibrated:
        quantizer.observe(linear.weight)
        quantizer.compute_qparams()


@QUANTIZERS.register_module()
class LayerNormReparamQuantizer(TensorQuantizer):
    """Input quantizer of a Linear fed by a LayerNorm, RepQ-ViT style.

    Calibration observes the LayerNorm output per channel (its channels
    differ a lot in range). Leaving calibration computes per-channel steps
    and zero points, folds them into the LayerNorm's affine and the
    Linears' weights and biases
    (:func:`clamp_mm.quant.layernorm_fold.fold_channel_quantization`, exact
    in float) and turns this quantizer per tensor: at inference it is one
    uniform per-tensor quantizer, with the very codes the per-channel one
    would give. The weight quantizers of the Linears are recalibrated on
    the folded weights. Calibrating again unfolds nothing: the new
    per-channel factors are folded on top (the model stays float-exact).

    The LayerNorm and the Linears are referenced, not owned (they stay
    where the model keeps them, and in its state dict only once). A state
    dict saved after folding (scalar buffers) loads into a fresh,
    unfolded quantizer: it turns per tensor first.

    Args:
        num_channels (int): LayerNorm width C (the last axis).
        norm (nn.Module): The LayerNorm.
        linears (Sequence[nn.Module]): The Linears reading its output.
        bits (int): Bit-width, 2..8. Defaults to 8.
        observer (dict, optional): See :class:`TensorQuantizer`.
        point (str): See :class:`TensorQuantizer`.
    """

    def __init__(self,
                 num_channels: int,
                 norm: Optional[nn.Module] = None,
                 linears: Sequence[nn.Module] = (),
                 bits: int = 8,
                 observer: Optional[dict] = None,
                 point: str = '') -> None:
        super().__init__(bits=bits,
                         channel_axis=-1,
                         num_channels=num_channels,
                         observer=observer,
                         point=point)
        self.num_channels = num_channels
        # Plain attributes, not children: the modules belong to the model.
        self.__dict__['_norm'] = norm
        self.__dict__['_linears'] = list(linears)

    @property
    def is_folded(self) -> bool:
        """Whether the factors are folded (per tensor at inference)."""
        return self.channel_axis is None

    def set_targets(self, norm: nn.Module,
                    linears: Sequence[nn.Module]) -> None:
        """Set the LayerNorm and the Linears the factors are folded into."""
        self.__dict__['_norm'] = norm
        self.__dict__['_linears'] = list(linears)

    # ---- state ---------------------------------------------------------------
    @TensorQuantizer.mode.setter
    def mode(self, mode: str) -> None:
        if mode == 'calibrate' and self.is_folded:
            self._set_layout(folded=False)
        TensorQuantizer.mode.fset(self, mode)

    def _set_layout(self, folded: bool) -> None:
        """Per-tensor (folded) or per-channel buffers, values kept."""
        shape = () if folded else (self.num_channels, )
        for name in ('scale', 'zero_point', 'min_val', 'max_val'):
            value = getattr(self, name)
            value = value.reshape(-1)[0] if folded else value.expand(shape)
            setattr(self, name, value.clone().reshape(shape))
        self.channel_axis = None if folded else -1
        self.observer.channel_axis = self.channel_axis

    def compute_qparams(self) -> None:
        """Per-channel range, then fold and turn per tensor."""
        norm = self.__dict__['_norm']
        if norm is None or self.is_folded:
            super().compute_qparams()
            return
        min_val, max_val = self.observer.compute_range(self.bits,
                                                       self.symmetric,
                                                       self.kind)
        self.observer.reset()
        channel_scale, channel_zero_point = calculate_qparams(
            min_val, max_val, self.bits, self.symmetric)
        target_scale, target_zero_point = per_tensor_target(
            channel_scale, channel_zero_point)
        linears = self.__dict__['_linears']
        fold_channel_quantization(norm, linears, channel_scale,
                                  channel_zero_point, target_scale,
                                  target_zero_point)
        for linear in linears:
            _refresh_weight_quantizer(linear)
        self._set_layout(folded=True)
        qmin, qmax = self.integer_range
        # The per-tensor range whose qparams are exactly (s_t, z_t), so
        # set_bits and the search start from them.
        self.set_range((qmin - target_zero_point) * target_scale,
                       (qmax - target_zero_point) * target_scale)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        saved = state_dict.get(prefix + 'scale')
        if saved is not None and (saved.dim() == 0) != self.is_folded:
            self._set_layout(folded=saved.dim() == 0)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def extra_repr(self) -> str:
        return super().extra_repr() + (', layernorm_reparam=' +
                                       ('folded' if self.is_folded else
                                        'per_channel'))
