"""What one block is trained on: its inputs and the float block's outputs.

Recorded batch by batch with hooks that stop the forward pass as soon as
the block is reached (its input) or done (its float output), so the rest of
the network never runs and only this block's tensors are kept.
"""
from dataclasses import dataclass
from typing import Any, Callable, List

import torch
from torch import nn

from clamp_mm.search.block_cache import BlockIO, first_tensor


class _BlockReached(Exception):
    """Raised by a recording hook to end the forward pass early."""


def _detach(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, (tuple, list)):
        return type(value)(_detach(v) for v in value)
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    return value


@torch.no_grad()
def record_input(run_forward: Callable[[], Any], block: nn.Module) -> BlockIO:
    """The arguments ``block`` is called with when ``run_forward`` runs.

    Raises:
        RuntimeError: When ``run_forward`` never calls the block.
    """
    found = []

    def hook(module, args, kwargs):
        found.append(BlockIO(_detach(args), _detach(kwargs), None))
        raise _BlockReached

    handle = block.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        run_forward()
    except _BlockReached:
        pass
    finally:
        handle.remove()
    if not found:
        raise RuntimeError(f'{type(block).__name__} was not called by the '
                           'forward pass')
    return found[0]


@torch.no_grad()
def record_call(run_forward: Callable[[], Any], block: nn.Module) -> BlockIO:
    """The arguments of ``block`` and what it returns (first tensor) when
    ``run_forward`` runs."""
    found = []

    def hook(module, args, kwargs, output):
        found.append(BlockIO(_detach(args), _detach(kwargs),
                             first_tensor(output).detach()))
        raise _BlockReached

    handle = block.register_forward_hook(hook, with_kwargs=True)
    try:
        run_forward()
    except _BlockReached:
        pass
    finally:
        handle.remove()
    if not found:
        raise RuntimeError(f'{type(block).__name__} was not called by the '
                           'forward pass')
    return found[0]


@dataclass
class BlockBatch:
    """One batch of a block's training data.

    Args:
        inputs (BlockIO): The block's arguments (quantized model's, or the
            float model's with ``block_input='fp'``).
        target (Tensor): The float block's output on the float input.
    """
    inputs: BlockIO
    target: torch.Tensor


def record_block_batches(images: torch.Tensor, batch_size: int,
                         forward_quantized: Callable[[torch.Tensor], Any],
                         forward_fp: Callable[[torch.Tensor], Any],
                         block: nn.Module, fp_block: nn.Module,
                         quantized_input: bool) -> List[BlockBatch]:
    """The block's inputs and float targets, one batch of images at a time.

    Args:
        images (Tensor): Calibration images (N, 3, H, W).
        batch_size (int): Images per forward.
        forward_quantized (Callable): Runs the quantized model on images.
        forward_fp (Callable): Runs the float model on images.
        block (nn.Module): The quantized block.
        fp_block (nn.Module): The same block of the float model.
        quantized_input (bool): Feed the quantized model's block input
            (else the float model's).

    Returns:
        list[BlockBatch]: One entry per batch.
    """
    batches = []
    for chunk in images.split(batch_size):
        fp_call = record_call(lambda: forward_fp(chunk), fp_block)
        inputs = (record_input(lambda: forward_quantized(chunk), block)
                  if quantized_input else BlockIO(fp_call.args,
                                                  fp_call.kwargs, None))
        batches.append(BlockBatch(inputs, fp_call.output))
    return batches
