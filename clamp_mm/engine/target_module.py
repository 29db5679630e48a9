"""Which module of the runner's model the quantization adapter gets."""
from typing import Optional, Tuple

from torch import nn

from clamp_mm.models.base import ModelAdapter, find_adapter


def resolve_target(model: nn.Module,
                   name: Optional[str] = None
                   ) -> Tuple[str, nn.Module, ModelAdapter]:
    """Find the module to quantize and its adapter.

    Args:
        model (nn.Module): The runner's model (classifier, detector,
            segmentor, or a wrapper such as mmpretrain's TimmClassifier).
        name (str, optional): Dotted name of the module to quantize;
            ``''`` for ``model`` itself. Defaults to None: ``model`` if an
            adapter understands it, else its first direct child that one
            understands (the timm model inside a TimmClassifier).

    Returns:
        tuple[str, nn.Module, ModelAdapter]: The name (``''`` for the model
        itself), the module and its adapter.

    Raises:
        TypeError: When no adapter understands the module (or, with
            ``name=None``, the model nor any direct child); the message
            names the classes tried.
    """
    if name is not None:
        try:
            target = model.get_submodule(name) if name else model
        except AttributeError:
            raise TypeError(f'{type(model).__name__} has no sub-module '
                            f'{name!r} (test_cfg.quantized_module)') from None
        return name, target, find_adapter(target)
    try:
        return '', model, find_adapter(model)
    except TypeError as error:
        for child_name, child in model.named_children():
            try:
                return child_name, child, find_adapter(child)
            except TypeError:
                continue
        raise TypeError(f'{error} (nor for any direct child of it)') from None
