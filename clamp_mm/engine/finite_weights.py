"""Refuse float weights holding NaN or Inf, naming the first bad tensor.

A single non-finite weight makes every output NaN: the float model scores
0 % and generation fails on a non-finite loss far from the cause, so the
weights are checked when the checkpoint is read and again once loaded.
"""
from typing import Mapping, Optional

import torch

from .checkpoint_check import CheckpointMismatchError


class NonFiniteWeightError(CheckpointMismatchError):
    """A float weight holds NaN or Inf."""


def first_non_finite(state_dict: Mapping[str, torch.Tensor]
                     ) -> Optional[str]:
    """A one-line description of the first tensor (in key order) holding a
    NaN or an Inf, or None when every floating-point tensor is finite."""
    for name, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor) or \
                not tensor.is_floating_point():
            continue
        finite = torch.isfinite(tensor)
        if bool(finite.all()):
            continue
        nan = int(torch.isnan(tensor).sum())
        inf = int(torch.isinf(tensor).sum())
        return (f'{name} {tuple(tensor.shape)} holds {nan} NaN and {inf} Inf '
                f'of {tensor.numel()} values')
    return None


def check_finite_weights(state_dict: Mapping[str, torch.Tensor],
                         source: str) -> None:
    """Raise unless every floating-point tensor of ``state_dict`` is finite.

    Args:
        state_dict (Mapping[str, Tensor]): Weights by name.
        source (str): What they come from, for the message (a checkpoint
            path, or ``'the loaded model'``).

    Raises:
        NonFiniteWeightError: Naming the first bad tensor.
    """
    problem = first_non_finite(state_dict)
    if problem is not None:
        raise NonFiniteWeightError(
            f'{source}: {problem}; the float model is broken (diverged '
            'training or a bad conversion): fix or re-export the checkpoint')
