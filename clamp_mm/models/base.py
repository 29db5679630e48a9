"""The contract every backbone-family adapter fulfils.

An adapter is everything clamp_mm needs to know about one family of models
(timm ViT/DeiT, timm Swin, mmpretrain ViT/DeiT/Swin, mmdet Swin, mmseg
Swin/ViT). Code above ``clamp_mm.models`` (generators, search, engine) talks to
models only through this interface, so adding a backbone means adding an
adapter and nothing else.
"""
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

#: Turns the output of a tapped module into a (B, H, W, D) token grid.
ToGrid = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class TokenTap:
    """Where to read one layer's patch tokens and how to lay them out.

    Args:
        name (str): Dotted name of the tapped module inside the model.
        module (nn.Module): The tapped module (an MHSA module or the block
            holding it); read its output with a forward hook.
        to_grid (ToGrid): Maps the hooked module's output to a
            (B, H, W, D) grid of patch tokens, class and distillation tokens
            dropped, Swin windows merged back and un-shifted.
    """
    name: str
    module: nn.Module
    to_grid: ToGrid


class ModelAdapter:
    """Base class of the per-family adapters.

    Subclasses are registered in ``clamp_mm.registry.ADAPTERS`` and chosen
    by :func:`clamp_mm.models.get_adapter` through :meth:`matches`.

    Args:
        model (nn.Module): The model to adapt: a classifier, or a detector /
            segmentor / bare backbone (then only the backbone is adapted).
    """

    #: Human-readable family name, e.g. ``'timm-vit'``.
    family: str = ''

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        """Whether this adapter understands ``model``."""
        raise NotImplementedError

    # ---- what the model is -------------------------------------------------
    @property
    def has_head(self) -> bool:
        """True when :meth:`forward_images` returns class logits."""
        raise NotImplementedError

    @property
    def input_size(self) -> Tuple[int, int]:
        """Default (H, W) of the input images."""
        raise NotImplementedError

    @property
    def mean_std(self) -> Tuple[Sequence[float], Sequence[float]]:
        """Per-channel mean and std (0-255 scale) that normalise images."""
        raise NotImplementedError

    def backbone(self) -> nn.Module:
        """The module that quantization scope 'backbone' covers."""
        raise NotImplementedError

    # ---- running it ----------------------------------------------------------
    def forward_images(
            self, images: torch.Tensor
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        """Run on normalised images (B, 3, H, W).

        Returns:
            Tensor | tuple[Tensor]: Class logits (B, num_classes) when
            :attr:`has_head`, else the backbone's output feature maps.
        """
        raise NotImplementedError

    # ---- where the tokens and blocks are -------------------------------------
    def token_taps(self) -> List[TokenTap]:
        """One tap per MHSA module, in forward order."""
        raise NotImplementedError

    def blocks(self) -> List[Tuple[str, nn.Module]]:
        """Transformer blocks, in forward order: the units of the search."""
        raise NotImplementedError

    def block_output_grid(self, name: str, output: torch.Tensor,
                          args: tuple, kwargs: dict) -> torch.Tensor:
        """Lay out block ``name``'s output as a (B, H, W, D) token grid.

        Args:
            name (str): Block name as given by :meth:`blocks`.
            output (Tensor): What the block returned (first element if it
                returned a tuple).
            args (tuple): Positional arguments the block was called with.
            kwargs (dict): Keyword arguments the block was called with.
        """
        raise NotImplementedError

    # ---- quantizing it -------------------------------------------------------
    def quantize(self, recipe) -> nn.Module:
        """Swap the model's modules for quantized ones, in place.

        Args:
            recipe (clamp_mm.quant.QuantRecipe): What to quantize and how.

        Returns:
            nn.Module: The same model object, now holding quantizers.
        """
        raise NotImplementedError


def find_adapter(model: nn.Module,
                 candidates: Optional[Sequence[type]] = None) -> ModelAdapter:
    """Return an adapter instance for ``model``.

    Args:
        model (nn.Module): The model.
        candidates (Sequence[type], optional): Adapter classes to try.
            Defaults to every class registered in ``ADAPTERS``.

    Raises:
        TypeError: When no adapter matches; the message names the model
            class and the supported families.
    """
    from clamp_mm.registry import ADAPTERS
    if candidates is None:
        ADAPTERS.import_from_location()
        candidates = list(ADAPTERS.module_dict.values())
    for adapter_cls in candidates:
        if adapter_cls.matches(model):
            return adapter_cls(model)
    families = sorted(c.family for c in candidates)
    raise TypeError(f'no clamp_mm adapter for model class '
                    f'{type(model).__name__}; supported families: {families}')
