import pytest
import torch

from clamp_mm.quant import (MinMaxObserver, OmseObserver, PercentileObserver,
                            build_observer, calculate_qparams, fake_quantize)
from clamp_mm.registry import OBSERVERS


@pytest.mark.parametrize('name', [
    'clamp_mm.MinMaxObserver', 'clamp_mm.PercentileObserver',
    'clamp_mm.OmseObserver'
])
def test_registered(name):
    assert OBSERVERS.get(name) is not None
    assert build_observer(dict(type=name)).has_data is False


def test_unknown_observer_is_named():
    with pytest.raises(KeyError, match='NoSuchObserver'):
        build_observer(dict(type='NoSuchObserver'))


def test_minmax_over_batches_and_channels():
    observer = MinMaxObserver(channel_axis=1)
    observer.update(torch.tensor([[1.0, -2.0], [3.0, 0.0]]))
    observer.update(torch.tensor([[-5.0, 7.0]]))
    low, high = observer.compute_range(8, False)
    assert low.tolist() == [-5.0, -2.0]
    assert high.tolist() == [3.0, 7.0]


def test_percentile_clips_outliers():
    torch.manual_seed(0)
    x = torch.randn(100000)
    x[0] = 1000.0
    observer = PercentileObserver(percentile=99.9)
    observer.update(x)
    low, high = observer.compute_range(8, False)
    assert 2.5 < high.item() < 4.0
    assert -4.0 < low.item() < -2.5


def test_omse_beats_minmax_on_heavy_tails():
    torch.manual_seed(0)
    x = torch.distributions.StudentT(2.0).sample((20000, ))
    errors = {}
    for observer in (MinMaxObserver(), OmseObserver()):
        observer.update(x)
        low, high = observer.compute_range(4, False)
        scale, zero_point = calculate_qparams(low, high, 4, False)
        errors[type(observer).__name__] = (
            fake_quantize(x, scale, zero_point, 4, False) - x).pow(2).mean()
    assert errors['OmseObserver'] < errors['MinMaxObserver']


def test_empty_calibration_raises():
    observer = MinMaxObserver()
    observer.update(torch.empty(0))
    with pytest.raises(RuntimeError, match='observed no data'):
        observer.compute_range(8, False)
