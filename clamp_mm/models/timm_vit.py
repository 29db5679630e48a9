"""Adapter for timm VisionTransformer, DeiT and distilled DeiT."""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from clamp_mm.quant import QuantAttentionMixin, clone_as, replace_module
from clamp_mm.registry import ADAPTERS
from .base import ModelAdapter, TokenTap
from .grid import resolve_grid_size, sequence_to_grid

try:
    from timm.layers import Attention as TimmAttention
    from timm.models.vision_transformer import \
        VisionTransformer as TimmVisionTransformer
except ImportError:  # timm is optional
    TimmAttention = TimmVisionTransformer = None

#: timm's ImageNet normalisation on the 0-1 scale, the fallback when a model
#: carries no pretrained_cfg.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def timm_mean_std(model: nn.Module) -> Tuple[Sequence[float], Sequence[float]]:
    """Mean and std (0-255 scale) from a timm model's pretrained_cfg."""
    cfg = getattr(model, 'pretrained_cfg', None) or {}
    mean = cfg.get('mean', _IMAGENET_MEAN)
    std = cfg.get('std', _IMAGENET_STD)
    return [255.0 * m for m in mean], [255.0 * s for s in std]


def _additive_mask(scores: torch.Tensor, attn_mask: Optional[torch.Tensor],
                   is_causal: bool) -> torch.Tensor:
    """Apply timm's attention mask conventions to raw scores."""
    if is_causal:
        length = scores.shape[-1]
        causal = scores.new_full((length, length), float('-inf')).triu_(1)
        return scores + causal
    if attn_mask is None:
        return scores
    if attn_mask.dtype == torch.bool:
        return scores.masked_fill(~attn_mask, float('-inf'))
    return scores + attn_mask


if TimmAttention is not None:

    class QuantTimmAttention(QuantAttentionMixin, TimmAttention):
        """timm ``Attention`` with every attention quant point.

        Built by :meth:`from_float`; keeps the float module's children and
        parameter names (``qkv``, ``proj``, ``q_norm`` ...), runs the
        explicit (non-fused) attention path.
        """

        @classmethod
        def from_float(cls, attention: nn.Module,
                       factory) -> 'QuantTimmAttention':
            quant = clone_as(attention, cls)
            quant.init_attention_quantizers(factory)
            quant.qkv = factory.linear(attention.qkv)
            quant.proj = factory.linear(
                attention.proj, None if quant.quantizes_output else 'input')
            return quant

        def forward(self,
                    x: torch.Tensor,
                    attn_mask: Optional[torch.Tensor] = None,
                    is_causal: bool = False) -> torch.Tensor:
            batch, length, _ = x.shape
            gate = getattr(self, 'gate', None)
            gate = gate(x).sigmoid() if gate is not None else None
            qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads,
                                      self.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            q, k = self.q_norm(q), self.k_norm(k)
            x = self.attend(
                q,
                k,
                v,
                self.scale,
                mask=lambda s: _additive_mask(s, attn_mask, is_causal),
                dropout=self.attn_drop)
            x = x.transpose(1, 2).reshape(batch, length, -1)
            x = getattr(self, 'norm', nn.Identity())(x)
            if gate is not None:
                x = x * gate
            return self.proj_drop(self.proj(x))
else:
    QuantTimmAttention = None


class TimmClassifierAdapter(ModelAdapter):
    """What timm's ViT and Swin classifiers share: a head, ``patch_embed``
    with the input size, timm's normalisation, the whole model as backbone.
    Not registered: the family adapters below subclass it."""

    @property
    def has_head(self) -> bool:
        return self.model.num_classes > 0

    @property
    def input_size(self) -> Tuple[int, int]:
        return tuple(self.model.patch_embed.img_size)

    @property
    def mean_std(self) -> Tuple[Sequence[float], Sequence[float]]:
        return timm_mean_std(self.model)

    def backbone(self) -> nn.Module:
        return self.model

    def forward_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)


@ADAPTERS.register_module()
class TimmViTAdapter(TimmClassifierAdapter):
    """timm ``VisionTransformer`` (ViT, DeiT; distilled DeiT included).

    Blocks are ``blocks.<i>``, taps are their ``attn`` modules; class,
    distillation and register tokens are dropped from token grids.
    """
    family = 'timm-vit'

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        if TimmVisionTransformer is None or \
                not isinstance(model, TimmVisionTransformer):
            return False
        return all(
            isinstance(block.attn, TimmAttention) for block in model.blocks)

    # ---- where the tokens and blocks are -------------------------------------
    def _to_grid(self, tokens: torch.Tensor) -> torch.Tensor:
        num_prefix = self.model.num_prefix_tokens
        grid = resolve_grid_size(tokens.shape[1] - num_prefix,
                                 [self.model.patch_embed.grid_size])
        return sequence_to_grid(tokens, num_prefix, grid)

    def token_taps(self) -> List[TokenTap]:
        return [
            TokenTap(f'blocks.{index}.attn', block.attn, self._to_grid)
            for index, block in enumerate(self.model.blocks)
        ]

    def blocks(self) -> List[Tuple[str, nn.Module]]:
        return [(f'blocks.{index}', block)
                for index, block in enumerate(self.model.blocks)]

    def block_output_grid(self, name: str, output: torch.Tensor, args: tuple,
                          kwargs: dict) -> torch.Tensor:
        return self._to_grid(output)

    # ---- quantizing it -------------------------------------------------------
    def swap_attention(self, factory) -> List[str]:
        names = []
        for index, block in enumerate(self.model.blocks):
            name = f'blocks.{index}.attn'
            replace_module(self.model, name,
                           QuantTimmAttention.from_float(block.attn, factory))
            names.append(name)
        return names

    def post_gelu_names(self) -> List[str]:
        return [
            f'blocks.{index}.mlp.fc2'
            for index, block in enumerate(self.model.blocks)
            if hasattr(block.mlp, 'fc2')
        ]

    def layernorm_linear_pairs(self) -> List[Tuple[str, List[str]]]:
        pairs = []
        for index in range(len(self.model.blocks)):
            name = f'blocks.{index}'
            pairs += [(f'{name}.norm1', [f'{name}.attn.qkv']),
                      (f'{name}.norm2', [f'{name}.mlp.fc1'])]
        return pairs

    def head_names(self) -> List[str]:
        return [
            name for name in ('head', 'head_dist')
            if isinstance(getattr(self.model, name, None), nn.Linear)
        ]

    def patch_embed_names(self) -> List[str]:
        return ['patch_embed']
