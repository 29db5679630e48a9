"""An explicit, quantizable stand-in for ``nn.MultiheadAttention``.

``nn.MultiheadAttention`` computes its q/k/v projection inside a fused
functional call, so there is nowhere to put quantizers. This module does the
same arithmetic step by step, with the in-projection as a child Linear
(``in_proj``) and every attention quant point, while its state dict keeps
``nn.MultiheadAttention``'s key names (``in_proj_weight``, ``in_proj_bias``,
``out_proj.weight`` ...): float checkpoints load into it and its checkpoints
load into the float model.
"""
from typing import Optional, Tuple

import torch
from torch import nn
import torch.nn.functional as F

from clamp_mm.quant import QuantAttentionMixin

_RENAMES = (('in_proj.weight', 'in_proj_weight'), ('in_proj.bias',
                                                   'in_proj_bias'))


def _save_with_float_names(module, state_dict, prefix, local_metadata):
    for own, float_name in _RENAMES:
        if prefix + own in state_dict:
            state_dict[prefix + float_name] = state_dict.pop(prefix + own)


def _load_float_names(module, state_dict, prefix, *args):
    for own, float_name in _RENAMES:
        if prefix + float_name in state_dict:
            state_dict[prefix + own] = state_dict.pop(prefix + float_name)


class ExplicitMultiheadAttention(QuantAttentionMixin, nn.Module):
    """Self-attention equal to ``nn.MultiheadAttention``, made explicit.

    Supports what OpenMMLab backbones use: self-attention (query, key and
    value the same tensor), packed in-projection, optional ``attn_mask`` and
    ``key_padding_mask`` (boolean True = masked out, or additive float), and
    ``batch_first`` either way. Attention weights are not returned (the
    second output is None).

    Args:
        embed_dim (int): Model width.
        num_heads (int): Number of heads.
        dropout (float): Dropout on attention probabilities (training only).
            Defaults to 0.
        bias (bool): Whether the projections have biases. Defaults to True.
        batch_first (bool): Inputs are (B, L, E) instead of (L, B, E).
            Defaults to False.
    """

    def __init__(self,
                 embed_dim: int,
                 num_heads: int,
                 dropout: float = 0.0,
                 bias: bool = True,
                 batch_first: bool = False) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f'embed_dim {embed_dim} is not divisible by '
                             f'num_heads {num_heads}')
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.in_proj = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.init_attention_quantizers()
        self.register_state_dict_post_hook(_save_with_float_names)
        self.register_load_state_dict_pre_hook(_load_float_names)

    @classmethod
    def from_float(cls,
                   attention: nn.MultiheadAttention,
                   factory=None) -> 'ExplicitMultiheadAttention':
        """Build from ``attention``, sharing its parameters.

        Args:
            attention (nn.MultiheadAttention): Float module (packed
                in-projection, no bias_k/bias_v, no add_zero_attn).
            factory (clamp_mm.quant.QuantizerFactory, optional): When given,
                the projections become quantized linears and the attention
                quant points are created. Defaults to None (float).

        Raises:
            NotImplementedError: For options this module does not support.
        """
        if not attention._qkv_same_embed_dim or attention.bias_k is not None \
                or attention.add_zero_attn:
            raise NotImplementedError(
                'ExplicitMultiheadAttention supports packed in-projection '
                'without bias_k/bias_v or add_zero_attn; got kdim='
                f'{attention.kdim}, vdim={attention.vdim}, bias_k='
                f'{attention.bias_k is not None}, add_zero_attn='
                f'{attention.add_zero_attn}')
        explicit = cls(attention.embed_dim, attention.num_heads,
                       attention.dropout, attention.in_proj_bias is not None,
                       attention.batch_first)
        explicit.in_proj.weight = attention.in_proj_weight
        explicit.in_proj.bias = attention.in_proj_bias
        explicit.out_proj.weight = attention.out_proj.weight
        explicit.out_proj.bias = attention.out_proj.bias
        explicit.train(attention.training)
        explicit.to(attention.in_proj_weight.device)
        if factory is not None:
            explicit.init_attention_quantizers(factory)
            explicit.in_proj = factory.linear(explicit.in_proj)
            explicit.out_proj = factory.linear(
                explicit.out_proj,
                None if explicit.quantizes_output else 'input')
        return explicit

    def forward(
        self,
        query: torch.Tensor,
        key: Optional[torch.Tensor] = None,
        value: Optional[torch.Tensor] = None,
        key_padding_mask: Optional[torch.Tensor] = None,
        need_weights: bool = True,
        attn_mask: Optional[torch.Tensor] = None,
        average_attn_weights: bool = True,
        is_causal: bool = False
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        for name, other in (('key', key), ('value', value)):
            if other is not None and not _same_tensor(other, query):
                raise NotImplementedError(
                    f'ExplicitMultiheadAttention is self-attention only: '
                    f'{name} is not the query tensor')
        if is_causal and attn_mask is None:
            raise NotImplementedError('is_causal needs an explicit attn_mask')
        x = query if self.batch_first else query.transpose(0, 1)
        batch, length, _ = x.shape
        qkv = self.in_proj(x).reshape(batch, length, 3, self.num_heads,
                                      self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        dropout = (lambda p: F.dropout(p, self.dropout)) \
            if self.training and self.dropout > 0 else None
        out = self.attend(q,
                          k,
                          v,
                          self.head_dim**-0.5,
                          mask=lambda scores: _apply_masks(
                              scores, attn_mask, key_padding_mask),
                          dropout=dropout)
        out = out.transpose(1, 2).reshape(batch, length, self.embed_dim)
        out = self.out_proj(out)
        return (out if self.batch_first else out.transpose(0, 1)), None


def _same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same object or same view of the same memory (mmcv transposes
    query, key and value separately)."""
    return a is b or (a.data_ptr() == b.data_ptr() and a.shape == b.shape
                      and a.stride() == b.stride())


def _apply_masks(scores: torch.Tensor, attn_mask: Optional[torch.Tensor],
                 key_padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
    """nn.MultiheadAttention's mask conventions on (B, h, L, S) scores."""
    if attn_mask is not None:
        if attn_mask.dim() == 3:  # (B * heads, L, S)
            attn_mask = attn_mask.view(scores.shape)
        scores = _add_mask(scores, attn_mask)
    if key_padding_mask is not None:
        scores = _add_mask(scores, key_padding_mask[:, None, None, :])
    return scores


def _add_mask(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    if mask.dtype == torch.bool:
        return scores.masked_fill(mask, float('-inf'))
    return scores + mask
