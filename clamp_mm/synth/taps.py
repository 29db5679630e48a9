"""Collect every MHSA module's patch tokens as (B, H, W, D) grids.

The adapters (:mod:`clamp_mm.models`) say where the tokens are
(:meth:`ModelAdapter.token_taps`); this module only hooks them for the
duration of a forward.
"""
from typing import List, Sequence, Tuple, Union

import torch

from clamp_mm.models.base import ModelAdapter, TokenTap


class TokenGridCollector:
    """Context manager that records each tap's token grid during forwards.

    Forward hooks on the tapped modules call each tap's ``to_grid`` on the
    module output; the grids stay attached to the autograd graph, so a loss
    on them back-propagates to the input images.

    Example:
        >>> with TokenGridCollector(adapter) as collector:
        ...     logits = adapter.forward_images(images)
        ...     loss = multi_layer_contrastive_loss(collector.grids)

    Args:
        taps (ModelAdapter | Sequence[TokenTap]): An adapter (its
            ``token_taps()`` are used) or the taps themselves (a tap with
            ``reads_input`` is handed its module's first input).
    """

    def __init__(self, taps: Union[ModelAdapter, Sequence[TokenTap]]) -> None:
        if isinstance(taps, ModelAdapter):
            taps = taps.token_taps()
        self.taps: List[TokenTap] = list(taps)
        if not self.taps:
            raise ValueError('no token taps given: the adapter exposes no '
                             'MHSA module to read patch tokens from')
        #: (tap name, grid) in the order the taps fired.
        self.records: List[Tuple[str, torch.Tensor]] = []
        self._handles = []

    @property
    def grids(self) -> List[torch.Tensor]:
        """The recorded (B, H, W, D) grids, in forward order."""
        return [grid for _, grid in self.records]

    @property
    def names(self) -> List[str]:
        """Names of the taps that fired, in forward order."""
        return [name for name, _ in self.records]

    def clear(self) -> None:
        """Forget the grids recorded so far (call between forwards)."""
        self.records = []

    def _make_hook(self, tap: TokenTap):

        def hook(module, args, output):
            if tap.reads_input:
                output = args[0]
            if isinstance(output, (tuple, list)):
                output = output[0]
            grid = tap.to_grid(output)
            if grid.dim() != 4:
                raise ValueError(
                    f'token tap {tap.name!r} produced a grid of shape '
                    f'{tuple(grid.shape)}, expected (B, H, W, D)')
            self.records.append((tap.name, grid))

        return hook

    def __enter__(self) -> 'TokenGridCollector':
        self.clear()
        self._handles = [
            tap.module.register_forward_hook(self._make_hook(tap))
            for tap in self.taps
        ]
        return self

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
