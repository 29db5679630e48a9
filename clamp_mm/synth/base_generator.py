"""The interface every calibration-data generator fulfils.

A generator turns a full-precision model (and optionally the current
quantized model) into a batch of *normalised* images (N, 3, H, W): the input
space of ``adapter.forward_images``. Generators are dataclasses: every
hyper-parameter is a field with the default of ``docs/method.md``, so a
config dict ``dict(type='clamp_mm.ClampGenerator', temperature=0.1)`` builds
one through ``clamp_mm.registry.GENERATORS``.
"""
import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from clamp_mm.models.base import ModelAdapter, find_adapter
from .budget import DEFAULT_REFRESH_ITERATIONS

#: A model, or its adapter.
ModelLike = Union[nn.Module, ModelAdapter]
#: An image side, or (height, width).
Resolution = Union[int, Sequence[int]]


def as_adapter(model: Optional[ModelLike]) -> Optional[ModelAdapter]:
    """Return ``model`` itself if it is an adapter, else its adapter."""
    if model is None or isinstance(model, ModelAdapter):
        return model
    return find_adapter(model)


def resolve_resolution(adapter: ModelAdapter,
                       resolution: Optional[Resolution]) -> Tuple[int, int]:
    """The (H, W) to generate at.

    Args:
        adapter (ModelAdapter): Supplies the default, ``input_size``.
        resolution (int | Sequence[int], optional): A side, (H, W), or None
            for the model's input size (a classifier's; for a bare backbone
            pass the detector or segmentor test resolution, e.g. (512, 512)).

    Returns:
        tuple[int, int]: (height, width).
    """
    if resolution is None:
        resolution = adapter.input_size
    if isinstance(resolution, int):
        resolution = (resolution, resolution)
    resolution = tuple(int(side) for side in resolution)
    if len(resolution) != 2 or min(resolution) < 1:
        raise ValueError(f'resolution={resolution} is invalid, expected a '
                         'positive int or (height, width)')
    return resolution


def split_into_batches(num_images: int, batch_size: int) -> List[int]:
    """Sizes of the batches that make up ``num_images`` images."""
    if isinstance(num_images, bool) or not isinstance(num_images, int) or \
            num_images < 1:
        raise ValueError(f'num_images={num_images!r} is invalid, expected an '
                         'int >= 1')
    if batch_size < 1:
        raise ValueError(f'batch_size={batch_size} is invalid, expected >= 1')
    full, rest = divmod(num_images, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


@contextlib.contextmanager
def frozen(*models: Optional[nn.Module]) -> Iterator[None]:
    """Eval mode and no parameter gradients for the duration; then restore.

    Only the images are optimised: parameter gradients would cost a
    backward through every weight for nothing.
    """
    saved = []
    for model in models:
        if model is None:
            continue
        saved.append((model, model.training,
                      [(p, p.requires_grad) for p in model.parameters()]))
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
    try:
        yield
    finally:
        for model, training, flags in saved:
            model.train(training)
            for parameter, requires_grad in flags:
                parameter.requires_grad_(requires_grad)


def model_device(adapter: ModelAdapter) -> torch.device:
    """Device of the model's first parameter (CPU for a parameterless one).

    Random draws stay on a CPU generator, so a seed gives the same images
    whatever the device; the drawn tensors are then moved here.
    """
    parameter = next(adapter.model.parameters(), None)
    return parameter.device if parameter is not None else torch.device('cpu')


def model_family(adapter: ModelAdapter) -> str:
    """The adapter's family name, lower case (``''`` if it has none)."""
    return (getattr(adapter, 'family', '') or '').lower()


@dataclass
class BaseGenerator:
    """Base class of the generators.

    Args:
        batch_size (int): Images optimised together; lower it to fit memory
            at detector resolutions. Defaults to 32.
        seed (int): Seed of every random draw (initial noise, labels,
            augmentations): the same seed and model give the same images.
            Defaults to 0.
        progress (bool): Show an mmengine progress bar. Defaults to True.
    """

    batch_size: int = 32
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f'batch_size={self.batch_size} is invalid, '
                             'expected >= 1')
        #: Random target label of each generated image, when the generator
        #: optimised towards labels (None otherwise).
        self.targets: Optional[torch.Tensor] = None
        #: One dict per optimisation step: batch, round, iteration, lr,
        #: seconds (wall time of the step) and each loss term.
        self.loss_log: List[dict] = []

    def generate(self,
                 model: ModelLike,
                 num_images: int,
                 resolution: Optional[Resolution] = None,
                 quantized_model: Optional[ModelLike] = None) -> torch.Tensor:
        """Produce calibration images.

        Args:
            model (nn.Module | ModelAdapter): The full-precision model.
            num_images (int): How many images.
            resolution (int | Sequence[int], optional): Side or (H, W).
                Defaults to None (the model's input size).
            quantized_model (nn.Module | ModelAdapter, optional): Current
                quantized model, for generators with an adaptive term.
                Defaults to None.

        Returns:
            Tensor: Normalised images (num_images, 3, H, W), detached.
        """
        raise NotImplementedError

    def refresh(self,
                images: torch.Tensor,
                model: ModelLike,
                quantized_model: Optional[ModelLike] = None,
                iterations: int = DEFAULT_REFRESH_ITERATIONS) -> torch.Tensor:
        """Update existing images for the cyclic adaptation of the search.

        Generators that do not optimise return the images unchanged.

        Args:
            images (Tensor): Normalised images (N, 3, H, W).
            model (nn.Module | ModelAdapter): The full-precision model.
            quantized_model (nn.Module | ModelAdapter, optional): Current
                quantized model. Defaults to None.
            iterations (int): Optimisation steps. Defaults to
                ``DEFAULT_REFRESH_ITERATIONS`` (10).

        Returns:
            Tensor: The updated images, same shape, detached.
        """
        return images

    def get_config(self) -> dict:
        """The generator's config: ``type`` plus every field.

        Values that are not plain data (tensors, datasets) are replaced by a
        short description, so the dict can be saved with the images.
        """
        config = {'type': f'clamp_mm.{type(self).__name__}'}
        for field in dataclasses.fields(self):
            config[field.name] = _plain(getattr(self, field.name))
        return config


def _plain(value):
    """``value`` if it is plain data, else a string describing it."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, torch.Tensor):
        return f'Tensor(shape={tuple(value.shape)}, dtype={value.dtype})'
    return f'{type(value).__name__}'
