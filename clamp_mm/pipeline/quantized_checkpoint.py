"""Save a quantized model and restore it without recalibrating.

A quantized checkpoint is a plain dict (loadable with
``torch.load(weights_only=True)``) holding everything needed to rebuild the
quantized structure on a freshly built float model: the recipe, the
bit-width of every quantizer (mixed precision changes them per layer), which
sub-module was quantized, and the full state dict (float weights plus the
quantizers' ranges, scales and zero points).
"""
import os.path as osp
import pickle
from typing import Dict, Optional

import torch
from torch import nn

from clamp_mm.fileio import atomic_torch_save
from clamp_mm.models import find_adapter
from clamp_mm.quant import (QuantRecipe, iter_quantizers, quantize,
                            set_quant_mode)

#: Marks a file as a clamp_mm quantized checkpoint.
CHECKPOINT_KIND = 'clamp_mm.quantized_model'
#: Version of the file layout; bumped when it changes.
CHECKPOINT_VERSION = 1


class QuantizedCheckpointError(ValueError):
    """A quantized checkpoint that is unreadable or does not fit the model;
    the message is one line."""


def save_quantized(model: nn.Module,
                   path: str,
                   recipe: QuantRecipe,
                   quantized_module: str = '',
                   meta: Optional[dict] = None) -> str:
    """Write a quantized model to ``path``, atomically.

    Args:
        model (nn.Module): The whole model (classifier, detector,
            segmentor) holding calibrated quantizers.
        path (str): Destination file.
        recipe (QuantRecipe): The recipe the model was quantized with.
        quantized_module (str): Dotted name of the sub-module that was
            handed to the adapter (``''``: the model itself).
            Defaults to ``''``.
        meta (dict, optional): Plain-data provenance (config name, float
            checkpoint, search metrics). Defaults to None.

    Returns:
        str: ``path``.
    """
    bits = {name: quantizer.bits for name, quantizer in iter_quantizers(model)}
    if not bits:
        raise QuantizedCheckpointError(
            'the model holds no TensorQuantizer: quantize it '
            'before saving a quantized checkpoint')
    content = dict(
        kind=CHECKPOINT_KIND,
        version=CHECKPOINT_VERSION,
        recipe=recipe.to_dict(),
        quantized_module=quantized_module,
        bits=bits,
        state_dict={
            name: tensor.detach().cpu()
            for name, tensor in model.state_dict().items()
        },
        meta=dict(meta or {}))
    # Renamed last: an interrupted save never leaves a truncated checkpoint;
    # a full disk leaves no temporary file and says how much is needed.
    return atomic_torch_save(content, path)


def read_quantized(path: str) -> dict:
    """Read and check a file written by :func:`save_quantized`.

    Raises:
        FileNotFoundError: When ``path`` does not exist.
        QuantizedCheckpointError: When the file is truncated, not a torch
            file, or not a clamp_mm quantized checkpoint of a known
            version.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'quantized checkpoint {path} does not exist')
    try:
        content = torch.load(path, map_location='cpu', weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as error:
        reason = ' '.join(str(error).split())[:120]
        raise QuantizedCheckpointError(
            f'{path} is truncated or not a torch file, expected '
            'a quantized checkpoint written by tools/quantize.py '
            f'({reason})') from None
    if not isinstance(content, dict) or content.get('kind') != \
            CHECKPOINT_KIND:
        raise QuantizedCheckpointError(
            f'{path} is not a clamp_mm quantized checkpoint '
            '(written by save_quantized / tools/quantize.py)')
    if content.get('version') != CHECKPOINT_VERSION:
        raise QuantizedCheckpointError(
            f'{path} has version {content.get("version")}, '
            f'expected {CHECKPOINT_VERSION}')
    return content


def load_quantized(model: nn.Module, path: str) -> Dict:
    """Turn a float ``model`` into the quantized model saved at ``path``.

    The model is quantized with the saved recipe (structure only, no
    calibration), every quantizer gets its saved bit-width, then the saved
    state dict is loaded strictly and the quantizers are switched to
    ``'quantize'``.

    Args:
        model (nn.Module): A freshly built float model of the same
            architecture (its weights are replaced).
        path (str): A file written by :func:`save_quantized`.

    Returns:
        dict: The checkpoint's content (recipe, bits, meta ...).

    Raises:
        QuantizedCheckpointError: When the checkpoint does not fit
            ``model``; the message names the first differing keys.
    """
    content = read_quantized(path)
    name = content['quantized_module']
    try:
        target = model.get_submodule(name) if name else model
    except AttributeError:
        raise QuantizedCheckpointError(
            f'{path} quantized the sub-module {name!r}, which '
            f'{type(model).__name__} does not have') from None
    quantize(target, QuantRecipe.from_dict(content['recipe']), None,
             find_adapter(target))
    quantizers = dict(iter_quantizers(model))
    saved_bits = content['bits']
    if set(saved_bits) != set(quantizers):
        missing = sorted(set(saved_bits) - set(quantizers))[:3]
        extra = sorted(set(quantizers) - set(saved_bits))[:3]
        raise QuantizedCheckpointError(
            f'{path} does not fit {type(model).__name__}: '
            f'quantizers only in the checkpoint {missing}, only '
            f'in the model {extra}')
    for quantizer_name, bits in saved_bits.items():
        quantizers[quantizer_name].bits = int(bits)
    try:
        incompatible = model.load_state_dict(content['state_dict'],
                                             strict=False)
    except RuntimeError as error:  # shape mismatches
        first_line = str(error).strip().splitlines()[-1].strip()
        raise QuantizedCheckpointError(
            f'{path} does not fit {type(model).__name__}: '
            f'{first_line}') from None
    if incompatible.missing_keys or incompatible.unexpected_keys:
        raise QuantizedCheckpointError(
            f'{path} does not fit {type(model).__name__}: '
            f'{len(incompatible.missing_keys)} missing keys (e.g. '
            f'{incompatible.missing_keys[:3]}), '
            f'{len(incompatible.unexpected_keys)} unexpected keys (e.g. '
            f'{incompatible.unexpected_keys[:3]})')
    set_quant_mode(model, 'quantize')
    return content
