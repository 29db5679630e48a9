"""Check that a float checkpoint fits the model before quantizing it.

mmengine's Runner loads ``load_from`` non-strictly and only warns about
missing or unexpected keys; quantizing a model that kept part of its random
initialisation would give meaningless numbers, so the quantization loop and
``tools/quantize.py`` refuse such a checkpoint with one clear line.
"""
import os
import re
from typing import Mapping, Optional, Tuple

import torch
from torch import nn

#: Prefixes wrappers add to parameter names (DDP, EMA), removed before
#: comparing, as mmengine's Runner does.
_WRAPPER_PREFIX = re.compile(r'^module\.')
#: Checks that passed in this process, so tools/quantize.py's preflight and
#: the loop read a checkpoint once: (file, size, mtime, architecture).
_PASSED = set()


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model's architecture."""


def checkpoint_state_dict(path: str) -> Mapping[str, torch.Tensor]:
    """The state dict inside an OpenMMLab or plain checkpoint file or URL.

    Args:
        path (str): Local file, or any location mmengine's
            ``CheckpointLoader`` understands (``https://``, ``torchvision://``).

    Returns:
        Mapping[str, Tensor]: Parameter and buffer tensors by name.
    """
    from mmengine.runner.checkpoint import _load_checkpoint
    checkpoint = _load_checkpoint(path, map_location='cpu')
    if isinstance(checkpoint, Mapping) and 'state_dict' in checkpoint:
        checkpoint = checkpoint['state_dict']
    if not isinstance(checkpoint, Mapping):
        raise CheckpointMismatchError(
            f'{path} holds a {type(checkpoint).__name__}, expected a state '
            'dict (or a dict with a "state_dict" entry)')
    return {
        _WRAPPER_PREFIX.sub('', name): tensor
        for name, tensor in checkpoint.items()
        if isinstance(tensor, torch.Tensor)
    }


def check_checkpoint_fits(model: nn.Module, path: str) -> None:
    """Raise unless every model tensor is in ``path`` with the same shape.

    Args:
        model (nn.Module): The float model, before quantization.
        path (str): The float checkpoint.

    Raises:
        CheckpointMismatchError: Naming the model class, how many keys are
            missing, unexpected or of another shape, with examples.
    """
    expected = model.state_dict()
    passed_key = _passed_key(path, expected)
    if passed_key is not None and passed_key in _PASSED:
        return
    found = checkpoint_state_dict(path)
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    reshaped = sorted(
        name for name in set(expected) & set(found)
        if tuple(expected[name].shape) != tuple(found[name].shape))
    if not (missing or unexpected or reshaped):
        check_finite_weights(found, f'checkpoint {path}')
        if passed_key is not None:
            _PASSED.add(passed_key)
        return
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing keys (e.g. {missing[:2]})')
    if unexpected:
        problems.append(
            f'{len(unexpected)} unexpected keys (e.g. {unexpected[:2]})')
    if reshaped:
        name = reshaped[0]
        problems.append(
            f'{len(reshaped)} keys of another shape (e.g. {name}: '
            f'{tuple(found[name].shape)} in the checkpoint, '
            f'{tuple(expected[name].shape)} in the model)')
    raise CheckpointMismatchError(
        f'checkpoint {path} does not fit {type(model).__name__} of this '
        f'config: {"; ".join(problems)}')


def _passed_key(path: str, state: Mapping[str, torch.Tensor]
                ) -> Optional[Tuple]:
    """What identifies one check of a local file: the file as it is now and
    the model's parameter names and shapes; None for a remote location."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    architecture = tuple((name, tuple(tensor.shape))
                         for name, tensor in state.items())
    return (os.path.abspath(path), stat.st_size, stat.st_mtime_ns,
            hash(architecture))


# A single NaN or Inf weight makes every output NaN: the float model
# scores 0 % and generation fails on a non-finite loss far from the cause.
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
