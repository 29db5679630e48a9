"""Run a model from one block onwards, for a per-candidate output term.

The output term of a fitness (``output_kl``) needs the model output that a
candidate of block ``b`` produces. Rerunning the whole model per candidate
would repeat the blocks before ``b``, whose outputs do not depend on the
candidate: one recording forward keeps every block's output, and each
candidate afterwards replays the earlier blocks from that record, puts its
own output in place of block ``b`` and runs only what follows (the later
blocks and the head; the cheap stem before the first block runs again).
"""
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch
from torch import nn

from .block_cache import detach_nested


class _ReturnRecorded:
    """A ``forward`` that ignores its input and returns a stored value."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self, *args, **kwargs) -> Any:
        return self.value


class RestOfNetwork:
    """The model output for a given output of one block.

    Args:
        run_forward (Callable[[], Any]): Runs the (quantized) model on the
            synthetic batch and returns its output.
        blocks (Sequence[tuple[str, nn.Module]]): Every block of the model
            (the adapter's ``blocks()``), each called once per forward.
        name (str): The block whose output is replaced.
    """

    @torch.no_grad()
    def __init__(self, run_forward: Callable[[], Any],
                 blocks: Sequence[Tuple[str, nn.Module]], name: str) -> None:
        self.run_forward = run_forward
        modules = dict(blocks)
        if name not in modules:
            raise KeyError(f'block {name!r} is not among the model blocks '
                           f'{list(modules)}')
        self.block = modules[name]
        order: List[str] = []
        outputs: Dict[str, Any] = {}

        def make_hook(block_name: str):

            def hook(module, args, output):
                order.append(block_name)
                outputs[block_name] = detach_nested(output)

            return hook

        handles = [module.register_forward_hook(make_hook(block_name))
                   for block_name, module in blocks]
        try:
            run_forward()
        finally:
            for handle in handles:
                handle.remove()
        if order.count(name) != 1:
            raise RuntimeError(f'block {name} ran {order.count(name)} times '
                               'in one forward; expected once')
        #: Blocks that run before ``name``, with their recorded outputs.
        self.replayed = [(modules[n], outputs[n])
                         for n in order[:order.index(name)]]

    @torch.no_grad()
    def __call__(self, block_output: Any) -> Any:
        """The model output with the block returning ``block_output``.

        Args:
            block_output (Any): What the block returns for the candidate
                (the same structure as its usual output).

        Returns:
            Any: The model output (logits or feature maps).
        """
        patched = self.replayed + [(self.block, block_output)]
        previous = [module.__dict__.get('forward') for module, _ in patched]
        for module, value in patched:
            module.forward = _ReturnRecorded(value)
        try:
            return self.run_forward()
        finally:
            for (module, _), old in zip(patched, previous):
                if old is None:
                    del module.forward
                else:
                    module.forward = old
