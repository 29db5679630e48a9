"""Builds the quantizer of each quant point from a recipe."""
from typing import Optional

from torch import nn

from .layernorm_reparam import LayerNormReparamQuantizer
from .modules import QuantConv2d, QuantLinear
from .quantizer_types import build_activation_quantizer
from .recipe import QuantRecipe
from .tensor_quantizer import TensorQuantizer


class QuantizerFactory:
    """Makes quantizers and quantized layers as a recipe says.

    Args:
        recipe (QuantRecipe): The recipe.
    """

    def __init__(self, recipe: QuantRecipe) -> None:
        self.recipe = recipe

    def __call__(self,
                 point: str,
                 num_channels: Optional[int] = None,
                 channel_axis: int = 0) -> nn.Module:
        """A quantizer for quant point ``point``.

        Args:
            point (str): One of :data:`clamp_mm.quant.recipe.QUANT_POINTS`.
            num_channels (int, optional): Output channels, for per-channel
                weight quantizers; for activations the channel count
                (last axis) that power-of-two factors need.
                Defaults to None.
            channel_axis (int): Axis of the weight holding the output
                channels. Defaults to 0.

        Returns:
            nn.Module: A :class:`TensorQuantizer`, or ``nn.Identity`` when
            the recipe switches this point off.
        """
        recipe = self.recipe
        if not recipe.point_enabled(point):
            return nn.Identity()
        observer = recipe.observer_cfg(point)
        if point == 'weight':
            per_channel = recipe.weight_per_channel and num_channels
            return TensorQuantizer(
                bits=recipe.weight_bits,
                symmetric=recipe.weight_symmetric,
                channel_axis=channel_axis if per_channel else None,
                num_channels=num_channels if per_channel else None,
                observer=observer,
                point=point)
        return build_activation_quantizer(recipe.quantizer_type(point),
                                          point, recipe.act_bits, observer,
                                          num_channels)

    def layernorm_reparam(self, norm: nn.Module,
                          linears) -> Optional[LayerNormReparamQuantizer]:
        """The RepQ-ViT input quantizer of Linears fed by ``norm``.

        Args:
            norm (nn.Module): The LayerNorm.
            linears (list[nn.Module]): The Linears reading its output.

        Returns:
            LayerNormReparamQuantizer | None: None when the recipe does not
            reparameterize or quantizes no Linear input.
        """
        recipe = self.recipe
        if not (recipe.reparameterize_layernorm
                and recipe.point_enabled('input')):
            return None
        return LayerNormReparamQuantizer(norm.weight.shape[-1],
                                         norm,
                                         linears,
                                         bits=recipe.act_bits,
                                         observer=recipe.observer_cfg('input'),
                                         point='input')

    def linear(self,
               linear: nn.Linear,
               input_point: Optional[str] = 'input') -> QuantLinear:
        """Quantized copy of ``linear`` sharing its parameters.

        Args:
            linear (nn.Linear): Float layer.
            input_point (str, optional): Quant point of its input, or None
                when the input is quantized upstream. Defaults to
                ``'input'``.
        """
        return QuantLinear.from_float(
            linear, self('weight', linear.out_features),
            self(input_point) if input_point else None)

    def conv(self,
             conv: nn.Conv2d,
             input_point: Optional[str] = 'input') -> QuantConv2d:
        """Quantized copy of ``conv`` sharing its parameters.

        Args:
            conv (nn.Conv2d): Float layer.
            input_point (str, optional): See :meth:`linear`.
        """
        return QuantConv2d.from_float(
            conv, self('weight', conv.out_channels),
            self(input_point) if input_point else None)
