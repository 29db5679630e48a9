"""Each patch of clamp_mm.compat has a test here that fails without it."""
import io
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint

import clamp_mm.compat  # noqa: F401


def _runner_style_checkpoint(path):
    """Write what mmengine's Runner writes: numpy in meta, a message hub."""
    history = HistoryBuffer()
    history.update(0.5)
    torch.save({
        'meta': {'epoch': np.int64(3), 'seed': np.int32(7),
                 'lr': np.float64(0.1), 'mean': np.array([1.0, 2.0])},
        'message_hub': {'log_scalars': {'loss': history}},
        'state_dict': {'weight': torch.arange(4.).reshape(2, 2),
                       'bias': torch.ones(2)},
    }, path)


def test_runner_checkpoint_loads_with_safe_loader(tmp_path):
    path = tmp_path / 'epoch_3.pth'
    _runner_style_checkpoint(path)
    model = torch.nn.Linear(2, 2)
    checkpoint = load_checkpoint(model, str(path), map_location='cpu')
    assert torch.equal(model.weight, torch.arange(4.).reshape(2, 2))
    assert checkpoint['meta']['epoch'] == 3
    assert checkpoint['message_hub']['log_scalars']['loss'].mean() == 0.5


class _CallsGetattrOnAllowedClass:
    """Pickles as getattr(numpy.ndarray, 'tofile'): an allowed class, a
    method that writes files: what a hostile checkpoint could reach for."""

    def __reduce__(self):
        return (getattr, (np.ndarray, 'tofile'))


def test_safe_loader_still_refuses_arbitrary_getattr():
    buffer = io.BytesIO()
    torch.save({'payload': _CallsGetattrOnAllowedClass()}, buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError, match='tofile'):
        torch.load(buffer)
