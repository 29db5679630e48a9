"""What the OpenMMLab Swin adapters (mmdet, mmseg, mmpretrain) share.

The three packages build Swin the same way: ``stages[i].blocks[j]`` are
``SwinBlock(x, hw_shape)``, whose ``attn`` is a ``ShiftWindowMSA`` (pad,
shift, partition, ``w_msa``, merge, un-shift) and whose ``ffn`` is an mmcv
``FFN`` (``layers.1`` is fc2).
"""
from functools import partial
from typing import List, Tuple

import torch
from torch import nn

from clamp_mm.quant import replace_module
from .base import TokenTap
from .grid import record_hw_shape, recorded_hw_shape
from .openmmlab_attention import (QuantWindowMSAMixin,
                                  quantize_attention_module)
from .openmmlab_base import OpenMMLabAdapter


def _sequence_to_hw_grid(module: nn.Module,
                         tokens: torch.Tensor) -> torch.Tensor:
    height, width = recorded_hw_shape(module)
    return tokens.reshape(tokens.shape[0], height, width, tokens.shape[-1])


class OpenMMLabSwinAdapter(OpenMMLabAdapter):
    """Swin blocks ``stages.<s>.blocks.<b>``; taps are their
    ``ShiftWindowMSA`` modules, whose output is already merged and
    un-shifted (B, H*W, D)."""

    def blocks(self) -> List[Tuple[str, nn.Module]]:
        return [(f'{self.prefix}stages.{stage_index}.blocks.{index}', block)
                for stage_index, stage in enumerate(self.backbone().stages)
                for index, block in enumerate(stage.blocks)]

    def token_taps(self) -> List[TokenTap]:
        taps = []
        for name, block in self.blocks():
            record_hw_shape(block.attn)
            taps.append(
                TokenTap(f'{name}.attn', block.attn,
                         partial(_sequence_to_hw_grid, block.attn)))
        return taps

    def block_output_grid(self, name: str, output: torch.Tensor, args: tuple,
                          kwargs: dict) -> torch.Tensor:
        height, width = kwargs.get('hw_shape',
                                   args[1] if len(args) > 1 else None)
        return output.reshape(output.shape[0], height, width, output.shape[-1])

    def swap_attention(self, factory) -> List[str]:
        names = []
        for name, block in self.blocks():
            names.append(f'{name}.attn.w_msa')
            replace_module(
                self.model, names[-1],
                quantize_attention_module(block.attn.w_msa,
                                          QuantWindowMSAMixin, factory))
        return names

    def layernorm_linear_pairs(self) -> List[Tuple[str, List[str]]]:
        # mmcv FFN: layers = (Sequential(fc1, act, drop), fc2, drop);
        # PatchMerging: unfold, LayerNorm, reduction.
        pairs = []
        for name, _ in self.blocks():
            pairs += [(f'{name}.norm1', [f'{name}.attn.w_msa.qkv']),
                      (f'{name}.norm2', [f'{name}.ffn.layers.0.0'])]
        pairs += [(f'{self.prefix}stages.{index}.downsample.norm',
                   [f'{self.prefix}stages.{index}.downsample.reduction'])
                  for index in range(len(self.backbone().stages))]
        return pairs

    def post_gelu_names(self) -> List[str]:
        return [f'{name}.ffn.layers.1' for name, _ in self.blocks()]
