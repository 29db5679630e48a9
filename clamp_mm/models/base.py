"""The contract every backbone-family adapter fulfils.

An adapter is everything clamp_mm needs to know about one family of models
(timm ViT/DeiT, timm Swin, mmpretrain ViT/DeiT/Swin, mmdet Swin, mmseg
Swin/ViT). Code above ``clamp_mm.models`` (generators, search, engine) talks to
models only through this interface, so adding a backbone means adding an
adapter and nothing else.
"""
from dataclasses import dataclass
from functools import partial
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from clamp_mm.quant.api import register_adapter_finder

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
            dropped, Swin windows merged back and un-shifted. Call it on the
            output of a forward pass that started after the taps were
            created: for inputs of varying size it reads the spatial size
            that hooks installed by :meth:`ModelAdapter.token_taps` recorded
            during that same pass.
        reads_input (bool): Hand ``to_grid`` the module's first input
            instead of its output (PSAQ-ViT's attn@v is the input of the
            output projection). Defaults to False.
    """
    name: str
    module: nn.Module
    to_grid: ToGrid
    reads_input: bool = False


def head_averaged_sets(num_heads: int, num_prefix_tokens: int,
                       projection_input: torch.Tensor) -> torch.Tensor:
    """attn@v from an output projection's input, averaged over heads.

    Args:
        num_heads (int): Heads of the attention.
        num_prefix_tokens (int): Leading class/distillation tokens to drop.
        projection_input (Tensor): (S, N, heads * head_dim), the heads'
            attn@v outputs concatenated (S: images, or windows of images).

    Returns:
        Tensor: (S, 1, N - prefix, head_dim): one row of tokens per set,
        as a 4-d "grid" for :class:`~clamp_mm.synth.taps.TokenGridCollector`.
    """
    sets, length, channels = projection_input.shape
    averaged = projection_input.reshape(sets, length, num_heads,
                                        channels // num_heads).mean(2)
    return averaged[:, num_prefix_tokens:].unsqueeze(1)


def _attention_with_projection(module: nn.Module) -> Optional[nn.Module]:
    for candidate in module.modules():
        if isinstance(getattr(candidate, 'proj', None), nn.Linear) and \
                isinstance(getattr(candidate, 'num_heads', None), int):
            return candidate
    return None


class ModelAdapter:
    """Base class of the per-family adapters.

    Subclasses are registered in ``clamp_mm.registry.ADAPTERS`` and chosen
    by :func:`find_adapter` through :meth:`matches`. Every name an
    adapter gives (blocks, taps, heads) is a dotted name inside
    :attr:`model`.

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
        """One tap per MHSA module, in forward order.

        Taps refer to the modules present when called: ask again after
        :meth:`quantize` has swapped the attention modules.
        """
        raise NotImplementedError

    @property
    def num_prefix_tokens(self) -> int:
        """Class/distillation tokens ahead of the patch tokens (0 here)."""
        return 0

    def attention_value_taps(self) -> List[TokenTap]:
        """PSAQ-ViT's taps: each MHSA's head-averaged attn@v, class token
        dropped (zkkli/PSAQ-ViT hooks ``attn.matmul2`` and takes
        ``mean(dim=1)[:, 1:]``).

        Read as the input of the attention's output projection, so it
        works on float and quantized models alike. Each tap gives
        (S, 1, T, head_dim): S = images (ViT) or windows (Swin; their
        pairs are pooled per image by the loss, as the official code does).

        Raises:
            NotImplementedError: When a tapped MHSA module holds no
                ``proj`` linear with ``num_heads``.
        """
        taps = []
        for tap in self.token_taps():
            attention = _attention_with_projection(tap.module)
            if attention is None:
                raise NotImplementedError(
                    f'{type(self).__name__}: tap {tap.name} has no attention '
                    'with a `proj` linear and `num_heads` to read attn@v from')
            taps.append(
                TokenTap(f'{tap.name}:attn@v', attention.proj,
                         partial(head_averaged_sets, attention.num_heads,
                                 self.num_prefix_tokens), reads_input=True))
        return taps

    def blocks(self) -> List[Tuple[str, nn.Module]]:
        """Transformer blocks, in forward order: the units of the search.

        Each block can be rerun alone as ``block(*args, **kwargs)`` with the
        arguments captured by a forward hook (``with_kwargs=True``); after
        :meth:`quantize` each has an ``output_quantizer`` child (when block
        outputs are quantized), applied by a forward hook.
        """
        raise NotImplementedError

    def block_output_grid(self, name: str, output: torch.Tensor, args: tuple,
                          kwargs: dict) -> torch.Tensor:
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

        The steps, the same for every family: the adapter's attention
        modules are replaced by quantized ones (:meth:`swap_attention`);
        every other ``nn.Linear``/``nn.Conv2d`` in the scope (the backbone,
        or the whole model with ``scope='model'``) is swapped, fc2 layers
        getting the ``post_gelu`` input point; the head is swapped when
        ``recipe.quantize_head``; each block gets an ``output_quantizer``
        (when ``recipe.quantize_block_output``); the patch embedding's input
        (the image) gets ``recipe.patch_embed_input_bits``; then the
        recipe's per-layer overrides are applied. Quantizers start in mode
        ``'off'``.

        Args:
            recipe (clamp_mm.quant.QuantRecipe | dict): What to quantize and
                how.

        Returns:
            nn.Module: The same model object, now holding quantizers.
        """
        from clamp_mm.quant import (QuantizerFactory, QuantRecipe,
                                    apply_overrides, attach_output_quantizer,
                                    swap_linear_and_conv)
        from clamp_mm.quant.transform import replace_module
        from .layernorm_reparam import (attach_layernorm_reparam,
                                        block_channels, existing_pairs)
        recipe = QuantRecipe.from_dict(recipe)
        factory = QuantizerFactory(recipe)
        self.swap_attention(factory)

        root_name = '' if recipe.scope == 'model' else self.backbone_name
        root = self.model.get_submodule(root_name)
        exclude = []
        if not recipe.quantize_patch_embed:
            exclude += self.patch_embed_names()
        if not recipe.quantize_head:
            exclude += self.head_names()
        input_points = {
            name: 'post_gelu'
            for name in _relative_names(self.post_gelu_names(), root_name)
        }
        swap_linear_and_conv(root, factory,
                             _relative_names(exclude, root_name), input_points)
        if recipe.quantize_head:
            for name in self.head_names():
                head = self.model.get_submodule(name)
                if isinstance(head, nn.Linear):
                    replace_module(self.model, name, factory.linear(head))
                else:
                    swap_linear_and_conv(head, factory)
        if recipe.point_enabled('block_output'):
            for _, block in self.blocks():
                channels = block_channels(block)
                attach_output_quantizer(
                    block, factory('block_output', num_channels=channels))
        attach_layernorm_reparam(
            self.model, existing_pairs(self.model,
                                       self.layernorm_linear_pairs()), factory)
        if recipe.patch_embed_input_bits is not None:
            for name in self.patch_embed_names():
                for module in self.model.get_submodule(name).modules():
                    quantizer = getattr(module, 'input_quantizer', None)
                    if quantizer is not None:
                        quantizer.set_bits(recipe.patch_embed_input_bits)
        apply_overrides(self.model, recipe.overrides)
        return self.model

    @property
    def backbone_name(self) -> str:
        """Dotted name of :meth:`backbone` in the model (``''`` if it is
        the model itself)."""
        backbone = self.backbone()
        for name, module in self.model.named_modules():
            if module is backbone:
                return name
        raise RuntimeError(f'{type(self).__name__}.backbone() is not a '
                           'module of the model')

    def swap_attention(self, factory) -> List[str]:
        """Replace every attention module by its quantized version.

        The replacement keeps the original's parameter names and owns the
        quantizers ``q_quantizer`` .. ``output_quantizer``
        (:class:`clamp_mm.quant.QuantAttentionMixin`); its projections are
        quantized linears.

        Args:
            factory (clamp_mm.quant.QuantizerFactory): Builds quantizers.

        Returns:
            list[str]: Names of the replaced modules.
        """
        raise NotImplementedError

    def post_gelu_names(self) -> List[str]:
        """Names of the MLP output layers (fc2), whose input is the
        post-GELU quant point."""
        raise NotImplementedError

    def layernorm_linear_pairs(self) -> List[Tuple[str, List[str]]]:
        """Each LayerNorm whose output only Linears read, with their names
        (``(norm, [linears])``), for the RepQ-ViT folding of
        ``recipe.reparameterize_layernorm``. Names that do not exist in the
        model are skipped. Defaults to none."""
        return []

    def head_names(self) -> List[str]:
        """Names of the classification-head modules (empty without a
        head); they stay float unless ``recipe.quantize_head``."""
        return []

    def patch_embed_names(self) -> List[str]:
        """Names of the patch-embedding modules."""
        raise NotImplementedError


def _relative_names(names, root_name: str) -> List[str]:
    """Names relative to ``root_name``; names outside it are dropped."""
    if not root_name:
        return list(names)
    prefix = root_name + '.'
    return [name[len(prefix):] for name in names if name.startswith(prefix)]


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


# clamp_mm.quant.quantize asks this layer for the adapter of a model it is
# given without one: the core imports nothing from here.
register_adapter_finder(find_adapter)
