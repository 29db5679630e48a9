"""Adapter for timm SwinTransformer (v1)."""
from functools import partial
from typing import List, Optional, Tuple

import torch
from torch import nn

from clamp_mm.quant import QuantAttentionMixin, clone_as, replace_module
from clamp_mm.registry import ADAPTERS
from .base import TokenTap
from .grid import record_hw_shape, recorded_hw_shape, windows_to_grid
from .timm_vit import TimmClassifierAdapter

try:
    from timm.models.swin_transformer import SwinTransformer, WindowAttention
except ImportError:  # timm is optional
    SwinTransformer = WindowAttention = None


def add_window_mask(scores: torch.Tensor, mask: Optional[torch.Tensor],
                    num_heads: int) -> torch.Tensor:
    """Add a (num_windows, N, N) shifted-window mask to (B*nW, h, N, N)
    scores, as Swin does."""
    if mask is None:
        return scores
    num_windows, length = mask.shape[0], scores.shape[-1]
    scores = scores.view(-1, num_windows, num_heads, length, length)
    scores = scores + mask.unsqueeze(1).unsqueeze(0)
    return scores.view(-1, num_heads, length, length)


if WindowAttention is not None:

    class QuantTimmWindowAttention(QuantAttentionMixin, WindowAttention):
        """timm Swin ``WindowAttention`` with every attention quant point.

        The relative-position bias is added before the score quantizer, the
        shifted-window mask after it.
        """

        @classmethod
        def from_float(cls, attention: nn.Module,
                       factory) -> 'QuantTimmWindowAttention':
            quant = clone_as(attention, cls)
            quant.init_attention_quantizers(factory)
            quant.qkv = factory.linear(attention.qkv)
            quant.proj = factory.linear(
                attention.proj, None if quant.quantizes_output else 'input')
            return quant

        def forward(self,
                    x: torch.Tensor,
                    mask: Optional[torch.Tensor] = None) -> torch.Tensor:
            batch_windows, length, _ = x.shape
            qkv = self.qkv(x).reshape(batch_windows, length, 3, self.num_heads,
                                      -1).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            x = self.attend(q,
                            k,
                            v,
                            self.scale,
                            bias=self._get_rel_pos_bias(),
                            mask=partial(add_window_mask,
                                         mask=mask,
                                         num_heads=self.num_heads),
                            dropout=self.attn_drop)
            x = x.transpose(1, 2).reshape(batch_windows, length, -1)
            return self.proj_drop(self.proj(x))
else:
    QuantTimmWindowAttention = None


@ADAPTERS.register_module()
class TimmSwinAdapter(TimmClassifierAdapter):
    """timm ``SwinTransformer``.

    Blocks are ``layers.<stage>.blocks.<i>``; taps are their ``attn``
    (window attention) modules, whose window outputs are merged and
    un-shifted into the stage's (B, H, W, D) grid.
    """
    family = 'timm-swin'

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        return SwinTransformer is not None and isinstance(
            model, SwinTransformer)

    def blocks(self) -> List[Tuple[str, nn.Module]]:
        return [(f'layers.{stage}.blocks.{index}', block)
                for stage, layer in enumerate(self.model.layers)
                for index, block in enumerate(layer.blocks)]

    def token_taps(self) -> List[TokenTap]:
        taps = []
        for name, block in self.blocks():
            record_hw_shape(block, nhwc_input=True)
            taps.append(
                TokenTap(f'{name}.attn', block.attn,
                         partial(self._windows_to_grid, block)))
        return taps

    @staticmethod
    def _windows_to_grid(block: nn.Module,
                         windows: torch.Tensor) -> torch.Tensor:
        return windows_to_grid(windows,
                               tuple(block.window_size),
                               recorded_hw_shape(block),
                               tuple(block.shift_size),
                               shift_before_pad=True)

    def block_output_grid(self, name: str, output: torch.Tensor, args: tuple,
                          kwargs: dict) -> torch.Tensor:
        return output  # timm Swin blocks already return (B, H, W, D)

    def swap_attention(self, factory) -> List[str]:
        names = []
        for name, block in self.blocks():
            replace_module(
                self.model, f'{name}.attn',
                QuantTimmWindowAttention.from_float(block.attn, factory))
            names.append(f'{name}.attn')
        return names

    def layernorm_linear_pairs(self) -> List[Tuple[str, List[str]]]:
        # Patch merging: 2x2 neighbours concatenated, LayerNorm, reduction.
        pairs = [(f'layers.{stage}.downsample.norm',
                  [f'layers.{stage}.downsample.reduction'])
                 for stage in range(len(self.model.layers))]
        for name, _ in self.blocks():
            pairs += [(f'{name}.norm1', [f'{name}.attn.qkv']),
                      (f'{name}.norm2', [f'{name}.mlp.fc1'])]
        return pairs

    def post_gelu_names(self) -> List[str]:
        return [f'{name}.mlp.fc2' for name, _ in self.blocks()]

    def head_names(self) -> List[str]:
        fc = getattr(self.model.head, 'fc', None)
        return ['head.fc'] if isinstance(fc, nn.Linear) else []

    def patch_embed_names(self) -> List[str]:
        return ['patch_embed']
