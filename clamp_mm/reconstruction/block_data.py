"""What one block is trained on: its inputs and the float block's outputs.

Recorded batch by batch with hooks that stop the forward pass as soon as
the block is reached (its input) or done (its float output), so the rest of
the network never runs and only this block's tensors are kept.
"""
from dataclasses import dataclass
from typing import Any, Callable, List

import torch
from torch import nn

from clamp_mm.search.block_cache import BlockIO, detach_nested, first_tensor


class _BlockReached(Exception):
    """Raised by a recording hook to end the forward pass early."""


def _record(run_forward: Callable[[], Any], block: nn.Module,
            with_output: bool) -> BlockIO:
    """The first call of ``block`` during ``run_forward``, the forward pass
    stopped there (before the block runs, or right after it when its output
    is wanted)."""
    found = []

    def record(args, kwargs, output=None):
        found.append(BlockIO(
            detach_nested(args), detach_nested(kwargs),
            None if output is None else first_tensor(output).detach()))
        raise _BlockReached

    if with_output:
        handle = block.register_forward_hook(
            lambda module, args, kwargs, output: record(args, kwargs, output),
            with_kwargs=True)
    else:
        handle = block.register_forward_pre_hook(
            lambda module, args, kwargs: record(args, kwargs),
            with_kwargs=True)
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
def record_input(run_forward: Callable[[], Any], block: nn.Module) -> BlockIO:
    """The arguments ``block`` is called with when ``run_forward`` runs.

    Raises:
        RuntimeError: When ``run_forward`` never calls the block.
    """
    return _record(run_forward, block, with_output=False)


@torch.no_grad()
def record_call(run_forward: Callable[[], Any], block: nn.Module) -> BlockIO:
    """The arguments of ``block`` and what it returns (first tensor) when
    ``run_forward`` runs."""
    return _record(run_forward, block, with_output=True)


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
