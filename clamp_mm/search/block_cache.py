"""Record what each block receives and returns on the synthetic batch.

The local fitness runs one block on a stored input instead of the whole
model: at each block visit one FP forward (and one quantized forward) with a
hook on that block records what it needs, and each candidate afterwards
costs one block forward.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, Sequence, Tuple

import torch
from torch import nn


@dataclass
class BlockIO:
    """One block's call on the batch.

    Args:
        args (tuple): Positional arguments the block was called with.
        kwargs (dict): Keyword arguments the block was called with.
        output (Tensor): What it returned (first element of a tuple).
    """
    args: tuple
    kwargs: dict
    output: torch.Tensor


def first_tensor(output: Any) -> torch.Tensor:
    """The block's main output: itself, or the first element of a tuple."""
    if isinstance(output, (tuple, list)):
        return output[0]
    return output


def detach_nested(value: Any) -> Any:
    """``value`` with every tensor in it (tuples, lists, dicts) detached."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, tuple):
        return tuple(detach_nested(v) for v in value)
    if isinstance(value, list):
        return [detach_nested(v) for v in value]
    if isinstance(value, dict):
        return {k: detach_nested(v) for k, v in value.items()}
    return value


@torch.no_grad()
def record_block_io(run_forward: Callable[[], Any],
                    blocks: Sequence[Tuple[str, nn.Module]]
                    ) -> Tuple[Dict[str, BlockIO], Any]:
    """Run the model once and record every listed block's inputs and output.

    Args:
        run_forward (Callable[[], Any]): Runs the model on the batch and
            returns its output.
        blocks (Sequence[tuple[str, nn.Module]]): ``(name, block)`` pairs to
            record; each must be called exactly once by ``run_forward``.

    Returns:
        tuple[dict[str, BlockIO], Any]: The records by block name, and the
        model's output.

    Raises:
        RuntimeError: When a block is called never or more than once (its
            input would be ambiguous).
    """
    records: Dict[str, BlockIO] = {}
    calls: Dict[str, int] = {name: 0 for name, _ in blocks}

    def make_hook(name: str):

        def hook(module, args, kwargs, output):
            calls[name] += 1
            records[name] = BlockIO(detach_nested(args), detach_nested(kwargs),
                                    first_tensor(output).detach())

        return hook

    handles = [
        block.register_forward_hook(make_hook(name), with_kwargs=True)
        for name, block in blocks
    ]
    try:
        model_output = run_forward()
    finally:
        for handle in handles:
            handle.remove()
    wrong = {name: count for name, count in calls.items() if count != 1}
    if wrong:
        raise RuntimeError(f'each block must run exactly once per forward; '
                           f'calls per block: {wrong}')
    return records, detach_nested(model_output)


@torch.no_grad()
def record_block_input(run_forward: Callable[[], Any], name: str,
                       block: nn.Module) -> Tuple[BlockIO, Any]:
    """Like :func:`record_block_io` for a single block."""
    records, model_output = record_block_io(run_forward, [(name, block)])
    return records[name], model_output


def run_block(block: nn.Module, inputs: BlockIO) -> torch.Tensor:
    """Call ``block`` on a recorded input; return its main output."""
    return first_tensor(block(*inputs.args, **inputs.kwargs))
