"""Adapter for mmpretrain VisionTransformer / DeiT / distilled DeiT."""
from functools import partial
from typing import List, Tuple

import torch
from torch import nn

from clamp_mm.quant import replace_module
from clamp_mm.registry import ADAPTERS
from .base import TokenTap
from .grid import (HW_SHAPE_ATTRIBUTE, record_output_hw_shape,
                   resolve_grid_size, sequence_to_grid)
from .mmpretrain_common import MMPretrainClassifierMixin
from .openmmlab_attention import (QuantMMPretrainMultiheadAttentionMixin,
                                  quantize_attention_module)
from .openmmlab_base import OpenMMLabAdapter


def vit_tokens_to_grid(backbone: nn.Module, num_prefix_tokens: int,
                       tokens: torch.Tensor) -> torch.Tensor:
    """(B, prefix + H*W, D) tokens of an OpenMMLab ViT to (B, H, W, D).

    The grid size is the one the patch embedding returned on the latest
    forward (recorded by a hook the adapter installs when it is created),
    else the backbone's configured resolution, else square.
    """
    candidates = [
        getattr(backbone.patch_embed, HW_SHAPE_ATTRIBUTE, None),
        getattr(backbone, 'patch_resolution', None),
        getattr(backbone.patch_embed, 'init_out_size', None)
    ]
    image_size = getattr(backbone, 'img_size', None)
    patch_size = getattr(backbone, 'patch_size', None)
    if isinstance(image_size, (tuple, list)) and isinstance(patch_size, int):
        candidates.append(
            (image_size[0] // patch_size, image_size[1] // patch_size))
    grid = resolve_grid_size(tokens.shape[1] - num_prefix_tokens, candidates)
    return sequence_to_grid(tokens, num_prefix_tokens, grid)


@ADAPTERS.register_module()
class MMPretrainViTAdapter(MMPretrainClassifierMixin, OpenMMLabAdapter):
    """mmpretrain ``VisionTransformer`` (DeiT archs and
    ``DistilledVisionTransformer`` included), bare or in an
    ``ImageClassifier``.

    Blocks are ``layers.<i>``; taps are their ``attn`` modules, class and
    distillation tokens dropped.
    """
    family = 'mmpretrain-vit'

    @classmethod
    def backbone_classes(cls) -> tuple:
        try:
            from mmpretrain.models.backbones import VisionTransformer
        except ImportError:
            return ()
        return (VisionTransformer, )

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        # Token grids need the (H, W) of the current input: record it from
        # the patch embedding on every forward from now on.
        record_output_hw_shape(self.backbone().patch_embed)

    def _to_grid(self) -> partial:
        backbone = self.backbone()
        return partial(vit_tokens_to_grid, backbone, backbone.num_extra_tokens)

    def blocks(self) -> List[Tuple[str, nn.Module]]:
        return [(f'{self.prefix}layers.{index}', layer)
                for index, layer in enumerate(self.backbone().layers)]

    def token_taps(self) -> List[TokenTap]:
        to_grid = self._to_grid()
        return [
            TokenTap(f'{name}.attn', block.attn, to_grid)
            for name, block in self.blocks()
        ]

    def block_output_grid(self, name: str, output: torch.Tensor, args: tuple,
                          kwargs: dict) -> torch.Tensor:
        return self._to_grid()(output)

    def swap_attention(self, factory) -> List[str]:
        names = []
        for name, block in self.blocks():
            names.append(f'{name}.attn')
            replace_module(
                self.model, names[-1],
                quantize_attention_module(
                    block.attn, QuantMMPretrainMultiheadAttentionMixin,
                    factory))
        return names

    def layernorm_linear_pairs(self) -> List[Tuple[str, List[str]]]:
        pairs = []
        for name, _ in self.blocks():
            pairs += [(f'{name}.ln1', [f'{name}.attn.qkv']),
                      (f'{name}.ln2', [f'{name}.ffn.layers.0.0'])]
        return pairs

    def post_gelu_names(self) -> List[str]:
        # mmcv FFN: layers = (Sequential(fc1, act, drop), fc2, drop).
        return [
            f'{name}.ffn.layers.1' for name, block in self.blocks()
            if isinstance(getattr(block.ffn, 'layers', None), nn.Sequential)
        ]
