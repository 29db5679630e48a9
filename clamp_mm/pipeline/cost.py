"""The cost report of a (quantized) model: size and bit-operations per
image."""
import copy
from typing import Optional, Sequence

import torch
from torch import nn

from clamp_mm.models.base import ModelAdapter, find_adapter
from clamp_mm.quant import QuantRecipe, quantize
from clamp_mm.quant.report import model_cost
from clamp_mm.synth.base_generator import resolve_resolution


def cost_report(model: nn.Module,
                adapter: ModelAdapter,
                resolution: Optional[Sequence[int]] = None) -> dict:
    """Size and per-image MACs/BOPs of ``model``, as plain numbers.

    One zero image at ``resolution`` runs through the adapter's
    ``forward_images`` (the counts depend on the shape only).

    Args:
        model (nn.Module): The model the adapter wraps (float or quantized).
        adapter (ModelAdapter): Its adapter.
        resolution (Sequence[int], optional): (H, W) of the image. Defaults
            to None (the adapter's input size).

    Returns:
        dict: ``size_mb``, ``float_size_mb``, ``gbops``, ``float_gbops``,
        ``gmacs`` (per image) and ``resolution`` ([H, W]).
    """
    height, width = resolve_resolution(adapter, resolution)
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else 'cpu'
    image = torch.zeros(1, 3, height, width, device=device)
    with torch.no_grad():
        cost = model_cost(model, image,
                          lambda _, inputs: adapter.forward_images(inputs))
    return dict(size_mb=cost.size_mb, float_size_mb=cost.float_size_mb,
                gbops=cost.bops / 1e9, float_gbops=cost.float_bops / 1e9,
                gmacs=cost.macs / 1e9, resolution=[height, width])


def swapped_cost_report(model: nn.Module,
                        recipe: Optional[QuantRecipe] = None,
                        resolution: Optional[Sequence[int]] = None) -> dict:
    """:func:`cost_report` of a copy of ``model`` with the quantized modules
    of ``recipe`` swapped in (no calibration: counts need shapes and bits
    only).

    Args:
        model (nn.Module): The float model (not modified).
        recipe (QuantRecipe, optional): Which layers are swapped and their
            bits (``overrides`` included). Defaults to None
            (``QuantRecipe()``).
        resolution (Sequence[int], optional): (H, W) of the image. Defaults
            to None (the adapter's input size).

    Returns:
        dict: The fields of :func:`cost_report`.
    """
    swapped = copy.deepcopy(model)
    adapter = find_adapter(swapped)
    quantize(swapped, recipe, adapter=adapter)
    return cost_report(swapped, adapter, resolution)


def float_cost_report(model: nn.Module,
                      resolution: Optional[Sequence[int]] = None,
                      recipe: Optional[QuantRecipe] = None) -> dict:
    """:func:`cost_report` of a float model, counted as for its quantized
    copies.

    A float attention hides its two matmuls (q k^T, probabilities x v)
    inside one fused call that no hook sees, so the float model itself
    would be counted without them. The :func:`swapped_cost_report` of a
    copy is taken instead and its float figures are returned: they equal
    the ``float_*`` fields of every quantized model made from ``model`` with
    the same recipe scope.

    Args:
        model (nn.Module): The float model (not modified).
        resolution (Sequence[int], optional): (H, W) of the image. Defaults
            to None (the adapter's input size).
        recipe (QuantRecipe, optional): Decides which layers the copy
            swaps (bits do not matter). Defaults to None (``QuantRecipe()``).

    Returns:
        dict: The fields of :func:`cost_report`, with ``size_mb`` and
        ``gbops`` equal to ``float_size_mb`` and ``float_gbops``.
    """
    cost = swapped_cost_report(model, recipe, resolution)
    return dict(cost, size_mb=cost['float_size_mb'],
                gbops=cost['float_gbops'])
