"""Quantized attention arithmetic shared by every attention family.

Each family's quantized attention (in ``clamp_mm.models``) keeps its own
projections and reshapes and calls :meth:`QuantAttentionMixin.attend` for
the part between q/k/v and the output projection, so the quant points sit
in the same places in every family.
"""
from typing import Callable, Optional

import torch
from torch import nn

from .factory import QuantizerFactory

#: Names of the quantizer children an attention module owns.
ATTENTION_QUANTIZER_NAMES = ('q_quantizer', 'k_quantizer', 'v_quantizer',
                             'score_quantizer', 'softmax_quantizer',
                             'output_quantizer')


class QuantAttentionMixin:
    """Adds the attention quant points to an ``nn.Module``.

    Children: ``q_quantizer`` (query after scaling), ``k_quantizer``,
    ``v_quantizer``, ``score_quantizer`` (scores before softmax, after the
    relative-position bias), ``softmax_quantizer`` (probabilities),
    ``output_quantizer`` (attn @ v, the input of the output projection).
    """

    def init_attention_quantizers(self,
                                  factory: Optional[QuantizerFactory] = None
                                  ) -> None:
        """Create the six quantizers (``nn.Identity`` without a factory)."""
        points = ('q', 'k', 'v', 'score', 'softmax', 'attn_output')
        for name, point in zip(ATTENTION_QUANTIZER_NAMES, points):
            setattr(self, name,
                    factory(point) if factory is not None else nn.Identity())

    @property
    def quantizes_output(self) -> bool:
        """Whether attn @ v is quantized here (then the projection's own
        input quantizer is redundant and left out)."""
        return not isinstance(self.output_quantizer, nn.Identity)

    def attend(self,
               q: torch.Tensor,
               k: torch.Tensor,
               v: torch.Tensor,
               scale: float,
               bias: Optional[torch.Tensor] = None,
               mask: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
               dropout: Optional[nn.Module] = None) -> torch.Tensor:
        """Scaled dot-product attention with every quant point.

        Args:
            q (Tensor): Queries (..., N, d), not yet scaled.
            k (Tensor): Keys (..., M, d).
            v (Tensor): Values (..., M, d).
            scale (float): Query scaling, usually ``d ** -0.5``.
            bias (Tensor, optional): Added to the scores before they are
                quantized (relative-position bias). Defaults to None.
            mask (Callable, optional): Applied to the quantized scores
                before softmax (window-shift or padding masks). Masks are
                applied after the score quantizer because their large
                negative entries would otherwise swamp its range.
                Defaults to None.
            dropout (nn.Module, optional): Dropout on the probabilities.
                Defaults to None.

        Returns:
            Tensor: ``softmax(q k^T) v``, (..., N, d), quantized by
            ``output_quantizer``.
        """
        # Read by clamp_mm.quant.report to count the two matmuls' MACs.
        self.last_matmul_macs = (q.numel() * k.shape[-2], q.numel() //
                                 q.shape[-1] * k.shape[-2] * v.shape[-1])
        q = self.q_quantizer(q * scale)
        k = self.k_quantizer(k)
        v = self.v_quantizer(v)
        scores = q @ k.transpose(-2, -1)
        if bias is not None:
            scores = scores + bias
        scores = self.score_quantizer(scores)
        if mask is not None:
            scores = mask(scores)
        probabilities = self.softmax_quantizer(scores.softmax(dim=-1))
        if dropout is not None:
            probabilities = dropout(probabilities)
        return self.output_quantizer(probabilities @ v)
