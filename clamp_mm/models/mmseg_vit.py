"""Adapter for mmseg VisionTransformer (UperNet ViT / DeiT backbones)."""
from functools import partial
from typing import List, Tuple

import torch
from torch import nn

from clamp_mm.quant import replace_module
from clamp_mm.registry import ADAPTERS
from .base import TokenTap
from .explicit_mha import ExplicitMultiheadAttention
from .grid import record_output_hw_shape
from .mmpretrain_vit import vit_tokens_to_grid
from .openmmlab_base import OpenMMLabAdapter


def _attention_output_to_grid(attention: nn.Module, backbone: nn.Module,
                              num_prefix_tokens: int,
                              tokens: torch.Tensor) -> torch.Tensor:
    # nn.MultiheadAttention (and its explicit stand-in) is sequence-first
    # unless built with batch_first.
    if not attention.batch_first:
        tokens = tokens.transpose(0, 1)
    return vit_tokens_to_grid(backbone, num_prefix_tokens, tokens)


@ADAPTERS.register_module()
class MMSegViTAdapter(OpenMMLabAdapter):
    """mmseg ``VisionTransformer``, bare or as a segmentor's ``backbone``.

    Blocks are ``layers.<i>``. Their attention is mmcv's
    ``MultiheadAttention`` wrapping ``nn.MultiheadAttention`` (``attn.attn``),
    whose fused q/k/v cannot be quantized: quantization replaces it by
    :class:`ExplicitMultiheadAttention` (same weights, same state-dict keys,
    same output). Taps are ``attn.attn``: its output is the MHSA output
    before the residual add that the mmcv wrapper does.
    """
    family = 'mmseg-vit'
    #: ADE20K crop size of the UperNet configs, (H, W).
    default_input_size: Tuple[int, int] = (512, 512)

    @classmethod
    def backbone_classes(cls) -> tuple:
        try:
            from mmseg.models.backbones import VisionTransformer
        except ImportError:
            return ()
        return (VisionTransformer, )

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        # Token grids need the (H, W) of the current input: record it from
        # the patch embedding on every forward from now on.
        record_output_hw_shape(self.backbone().patch_embed)

    @property
    def num_prefix_tokens(self) -> int:
        """1 when the class token goes through the layers, else 0."""
        return 1 if self.backbone().with_cls_token else 0

    def blocks(self) -> List[Tuple[str, nn.Module]]:
        return [(f'{self.prefix}layers.{index}', layer)
                for index, layer in enumerate(self.backbone().layers)]

    def token_taps(self) -> List[TokenTap]:
        backbone = self.backbone()
        return [
            TokenTap(
                f'{name}.attn.attn', block.attn.attn,
                partial(_attention_output_to_grid, block.attn.attn, backbone,
                        self.num_prefix_tokens))
            for name, block in self.blocks()
        ]

    def block_output_grid(self, name: str, output: torch.Tensor, args: tuple,
                          kwargs: dict) -> torch.Tensor:
        return vit_tokens_to_grid(self.backbone(), self.num_prefix_tokens,
                                  output)

    def swap_attention(self, factory) -> List[str]:
        names = []
        for name, block in self.blocks():
            names.append(f'{name}.attn.attn')
            replace_module(
                self.model, names[-1],
                ExplicitMultiheadAttention.from_float(block.attn.attn,
                                                      factory))
        return names

    def layernorm_linear_pairs(self) -> List[Tuple[str, List[str]]]:
        pairs = []
        for name, _ in self.blocks():
            pairs += [(f'{name}.ln1', [f'{name}.attn.attn.in_proj']),
                      (f'{name}.ln2', [f'{name}.ffn.layers.0.0'])]
        return pairs

    def post_gelu_names(self) -> List[str]:
        return [f'{name}.ffn.layers.1' for name, _ in self.blocks()]
