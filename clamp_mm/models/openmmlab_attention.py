"""Quantized attention for the OpenMMLab families (mmdet, mmseg, mmpretrain).

mmdet, mmseg and mmpretrain each ship their own ``WindowMSA`` class (same
arithmetic, different classes), and mmpretrain its ``MultiheadAttention``.
Rather than one hand-written subclass per package, :func:`quantized_class`
derives ``Quant<Package><Class>`` from the float class and a quantized mixin
below, so ``isinstance`` checks against the float class still hold.
"""
import sys
from functools import partial
from typing import Dict

import torch
from torch import nn
import torch.nn.functional as F

from clamp_mm.quant import QuantAttentionMixin, clone_as
from .timm_swin import add_window_mask

_DERIVED: Dict[tuple, type] = {}


def quantized_class(float_cls: type, quant_mixin: type) -> type:
    """The class deriving from ``quant_mixin`` and ``float_cls``.

    Created once per pair and published in this module under a unique name,
    so instances pickle and deep-copy like ordinary objects.
    """
    key = (quant_mixin, float_cls)
    if key not in _DERIVED:
        package = float_cls.__module__.split('.')[0].capitalize()
        name = f'Quant{package}{float_cls.__name__}'
        derived = type(
            name, (quant_mixin, float_cls), {
                '__module__':
                __name__,
                '__qualname__':
                name,
                '__doc__':
                f'{float_cls.__module__}.{float_cls.__name__} with '
                f'attention quant points ({quant_mixin.__name__}).'
            })
        setattr(sys.modules[__name__], name, derived)
        _DERIVED[key] = derived
    return _DERIVED[key]


def quantize_attention_module(attention: nn.Module, quant_mixin: type,
                              factory) -> nn.Module:
    """Quantized replacement of ``attention`` (same state, same names).

    Args:
        attention (nn.Module): Float module with ``qkv`` and ``proj``
            linears.
        quant_mixin (type): :class:`QuantWindowMSAMixin` or
            :class:`QuantMMPretrainMultiheadAttentionMixin`.
        factory (clamp_mm.quant.QuantizerFactory): Builds quantizers.
    """
    quant = clone_as(attention, quantized_class(type(attention), quant_mixin))
    quant.init_attention_quantizers(factory)
    quant.qkv = factory.linear(attention.qkv)
    quant.proj = factory.linear(attention.proj,
                                None if quant.quantizes_output else 'input')
    return quant


class QuantWindowMSAMixin(QuantAttentionMixin):
    """Forward of OpenMMLab ``WindowMSA`` (mmdet, mmseg, mmpretrain) with
    every attention quant point; the relative-position bias is added before
    the score quantizer, the shifted-window mask after it."""

    def forward(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        batch_windows, length, channels = x.shape
        qkv = self.qkv(x).reshape(batch_windows, length, 3, self.num_heads,
                                  channels // self.num_heads).permute(
                                      2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        window_area = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[
            self.relative_position_index.view(-1)].view(
                window_area, window_area, -1).permute(2, 0, 1).contiguous()
        x = self.attend(q,
                        k,
                        v,
                        self.scale,
                        bias=bias.unsqueeze(0),
                        mask=partial(add_window_mask,
                                     mask=mask,
                                     num_heads=self.num_heads),
                        dropout=self.attn_drop)
        x = x.transpose(1, 2).reshape(batch_windows, length, channels)
        return self.proj_drop(self.proj(x))


class QuantMMPretrainMultiheadAttentionMixin(QuantAttentionMixin):
    """Forward of mmpretrain ``MultiheadAttention`` (ViT, DeiT) with every
    attention quant point."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads,
                                  self.head_dims).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        dropout = (partial(F.dropout, p=self.attn_drop)
                   if self.training and self.attn_drop > 0 else None)
        # mmpretrain scales by head_dims ** -0.5 whatever qk_scale says.
        x = self.attend(q, k, v, self.head_dims**-0.5, dropout=dropout)
        x = x.transpose(1, 2).reshape(batch, length, self.embed_dims)
        x = self.out_drop(self.gamma1(self.proj_drop(self.proj(x))))
        if self.v_shortcut:
            x = v.squeeze(1) + x
        return x
