"""Range observers: they watch tensors during calibration and pick a range.

An observer is plain Python state, not an ``nn.Module``: what it accumulates
(running extremes, a sample of values) is calibration scratch, not part of
the model. The chosen range is stored in the owning
:class:`~clamp_mm.quant.TensorQuantizer`'s ``min_val``/``max_val`` buffers.

Observers are registered in ``clamp_mm.registry.OBSERVERS`` and built with
``OBSERVERS.build(dict(type='clamp_mm.MinMaxObserver'))``.
"""
from typing import Optional, Tuple

import torch

from clamp_mm.registry import OBSERVERS
from .primitives import (broadcast_to_axis, calculate_qparams, fake_quantize,
                         log_fake_quantize)

#: Exponent step of the logarithmic quantizer kinds (as in
#: ``clamp_mm.quant.tensor_quantizer.LOG_KIND_STEPS``, which imports us).
_LOG_STEPS = {'log2': 1.0, 'log_sqrt2': 0.5}


def _per_channel_view(x: torch.Tensor,
                      channel_axis: Optional[int]) -> torch.Tensor:
    """View ``x`` as (C, N) per channel, or (1, N) per tensor."""
    if channel_axis is None:
        return x.reshape(1, -1)
    return x.transpose(0, channel_axis).reshape(x.shape[channel_axis], -1)


def _squeeze_per_tensor(values: torch.Tensor,
                        channel_axis: Optional[int]) -> torch.Tensor:
    return values.reshape(()) if channel_axis is None else values


class BaseObserver:
    """Common interface of the observers.

    Args:
        channel_axis (int, optional): Axis holding the channels for a
            per-channel range; None for one range over the whole tensor.
            Defaults to None.
    """

    def __init__(self, channel_axis: Optional[int] = None) -> None:
        self.channel_axis = channel_axis
        self.reset()

    def reset(self) -> None:
        """Forget everything observed so far."""
        self.num_batches = 0

    @property
    def has_data(self) -> bool:
        """Whether at least one non-empty tensor was observed."""
        return self.num_batches > 0

    def update(self, x: torch.Tensor) -> None:
        """Observe one tensor (empty tensors are ignored)."""
        if x.numel() == 0:
            return
        self._update(x.detach().float())
        self.num_batches += 1

    def _update(self, x: torch.Tensor) -> None:
        raise NotImplementedError

    def compute_range(
            self,
            bits: int,
            symmetric: bool,
            kind: str = 'uniform') -> Tuple[torch.Tensor, torch.Tensor]:
        """The range the quantizer should cover.

        Args:
            bits (int): Bit-width the range is meant for (OMSE uses it).
            symmetric (bool): Whether codes are symmetric.
            kind (str): ``'uniform'``, ``'log2'`` or ``'log_sqrt2'``.
                Defaults to
                ``'uniform'``.

        Returns:
            tuple[Tensor, Tensor]: ``(min_val, max_val)``, scalars or (C,).

        Raises:
            RuntimeError: When nothing was observed.
        """
        if not self.has_data:
            raise RuntimeError(
                f'{type(self).__name__} has observed no data: run forward '
                f'passes in calibrate mode before asking for a range')
        return self._compute_range(bits, symmetric, kind)

    def _compute_range(self, bits, symmetric, kind):
        raise NotImplementedError


@OBSERVERS.register_module()
class MinMaxObserver(BaseObserver):
    """Range = smallest and largest value seen over all batches.

    Args:
        channel_axis (int, optional): See :class:`BaseObserver`.
    """

    def reset(self) -> None:
        super().reset()
        self.min_val = None
        self.max_val = None

    def _update(self, x: torch.Tensor) -> None:
        flat = _per_channel_view(x, self.channel_axis)
        batch_min = flat.amin(dim=1)
        batch_max = flat.amax(dim=1)
        if self.min_val is None:
            self.min_val, self.max_val = batch_min, batch_max
        else:
            self.min_val = torch.minimum(self.min_val, batch_min)
            self.max_val = torch.maximum(self.max_val, batch_max)

    def _compute_range(self, bits, symmetric, kind):
        return (_squeeze_per_tensor(self.min_val, self.channel_axis),
                _squeeze_per_tensor(self.max_val, self.channel_axis))


@OBSERVERS.register_module()
class PercentileObserver(BaseObserver):
    """Range = lower and upper percentiles, averaged over batches.

    Clips rare outliers. Averaging per-batch percentiles keeps memory
    constant, whatever the number of calibration batches.

    Args:
        channel_axis (int, optional): See :class:`BaseObserver`.
        percentile (float): Upper percentile in (50, 100]; the lower one is
            ``100 - percentile``. Defaults to 99.99.
        max_values (int): At most this many values per channel and batch
            enter the percentile (evenly strided subsample), which bounds the
            cost on large activations. Defaults to 2**20.
    """

    def __init__(self,
                 channel_axis: Optional[int] = None,
                 percentile: float = 99.99,
                 max_values: int = 2**20) -> None:
        if not 50.0 < percentile <= 100.0:
            raise ValueError(
                f'percentile must be in (50, 100], got {percentile}')
        self.percentile = percentile
        self.max_values = max_values
        super().__init__(channel_axis)

    def reset(self) -> None:
        super().reset()
        self.sum_low = None
        self.sum_high = None

    def _update(self, x: torch.Tensor) -> None:
        flat = _per_channel_view(x, self.channel_axis)
        if flat.shape[1] > self.max_values:
            stride = -(-flat.shape[1] // self.max_values)
            flat = flat[:, ::stride]
        count = flat.shape[1]
        # kthvalue has no size limit (unlike torch.quantile).
        low_k = max(1, int(round(count * (100.0 - self.percentile) / 100)))
        high_k = min(count, max(1, int(round(count * self.percentile / 100))))
        low = flat.kthvalue(low_k, dim=1).values
        high = flat.kthvalue(high_k, dim=1).values
        if self.sum_low is None:
            self.sum_low, self.sum_high = low, high
        else:
            self.sum_low = self.sum_low + low
            self.sum_high = self.sum_high + high

    def _compute_range(self, bits, symmetric, kind):
        return (_squeeze_per_tensor(self.sum_low / self.num_batches,
                                    self.channel_axis),
                _squeeze_per_tensor(self.sum_high / self.num_batches,
                                    self.channel_axis))


@OBSERVERS.register_module()
class OmseObserver(BaseObserver):
    """Range minimising the quantization error (OMSE).

    Tries ranges ``[a * min, a * max]`` for clipping ratios ``a`` evenly
    spaced in ``[min_ratio, 1]`` and keeps, per channel, the one with the
    smallest ``||x - Q(x)||^2`` on the observed values at the given
    bit-width.

    Args:
        channel_axis (int, optional): See :class:`BaseObserver`.
        num_candidates (int): Number of clipping ratios tried.
            Defaults to 100.
        min_ratio (float): Smallest clipping ratio, in (0, 1].
            Defaults to 0.3.
        max_values (int): At most this many values per channel are kept
            for the error (evenly strided subsample of each batch, the
            oldest dropped first). Defaults to 2**16.
    """

    def __init__(self,
                 channel_axis: Optional[int] = None,
                 num_candidates: int = 100,
                 min_ratio: float = 0.3,
                 max_values: int = 2**16) -> None:
        if not 0.0 < min_ratio <= 1.0:
            raise ValueError(f'min_ratio must be in (0, 1], got {min_ratio}')
        if num_candidates < 1:
            raise ValueError(
                f'num_candidates must be >= 1, got {num_candidates}')
        self.num_candidates = num_candidates
        self.min_ratio = min_ratio
        self.max_values = max_values
        super().__init__(channel_axis)

    def reset(self) -> None:
        super().reset()
        self.samples = None
        self.min_val = None
        self.max_val = None

    def _update(self, x: torch.Tensor) -> None:
        flat = _per_channel_view(x, self.channel_axis)
        batch_min, batch_max = flat.amin(dim=1), flat.amax(dim=1)
        if self.min_val is None:
            self.min_val, self.max_val = batch_min, batch_max
        else:
            self.min_val = torch.minimum(self.min_val, batch_min)
            self.max_val = torch.maximum(self.max_val, batch_max)
        if flat.shape[1] > self.max_values:
            stride = -(-flat.shape[1] // self.max_values)
            flat = flat[:, ::stride]
        samples = flat if self.samples is None else torch.cat(
            [self.samples, flat], dim=1)
        self.samples = samples[:, -self.max_values:]

    def _compute_range(self, bits, symmetric, kind):
        best_error = None
        best_min, best_max = self.min_val, self.max_val
        for ratio in torch.linspace(self.min_ratio, 1.0, self.num_candidates):
            low, high = self.min_val * ratio, self.max_val * ratio
            if kind in _LOG_STEPS:
                scale = torch.clamp(high, min=1e-8)
                restored = log_fake_quantize(
                    self.samples, broadcast_to_axis(scale, self.samples, 0),
                    bits, _LOG_STEPS[kind])
            else:
                scale, zero_point = calculate_qparams(low, high, bits,
                                                      symmetric)
                restored = fake_quantize(self.samples,
                                         scale,
                                         zero_point,
                                         bits,
                                         symmetric,
                                         channel_axis=0)
            error = (restored - self.samples).pow(2).mean(dim=1)
            if best_error is None:
                best_error = error
                best_min, best_max = low, high
            else:
                better = error < best_error
                best_error = torch.where(better, error, best_error)
                best_min = torch.where(better, low, best_min)
                best_max = torch.where(better, high, best_max)
        return (_squeeze_per_tensor(best_min, self.channel_axis),
                _squeeze_per_tensor(best_max, self.channel_axis))


#: Short observer names accepted by recipes, and their registered types.
OBSERVER_NAMES = {
    'minmax': 'clamp_mm.MinMaxObserver',
    'percentile': 'clamp_mm.PercentileObserver',
    'omse': 'clamp_mm.OmseObserver',
}


def build_observer(cfg: dict) -> BaseObserver:
    """Build an observer from ``dict(type=..., **kwargs)``.

    ``type`` is a registered name (``'clamp_mm.MinMaxObserver'`` or
    ``'MinMaxObserver'``), a short name from :data:`OBSERVER_NAMES`, or a
    class. Looked up directly in ``OBSERVERS``, so it does not depend on the
    default scope of a running mmengine Runner.

    Raises:
        KeyError: When the type is not registered; names the known ones.
    """
    cfg = dict(cfg)
    observer_type = cfg.pop('type')
    if isinstance(observer_type, str):
        registered = OBSERVER_NAMES.get(observer_type, observer_type)
        observer_cls = OBSERVERS.get(registered)
        if observer_cls is None:
            raise KeyError(
                f'unknown observer type {observer_type!r}; expected one of '
                f'{sorted(OBSERVER_NAMES)} or a type registered in '
                f'clamp_mm OBSERVERS {sorted(OBSERVERS.module_dict)}')
    else:
        observer_cls = observer_type
    return observer_cls(**cfg)
