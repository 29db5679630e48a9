"""check_checkpoint_fits reads a checkpoint once per process and version."""
import time

import pytest
import torch
from torch import nn

from clamp_mm.engine import checkpoint_check
from clamp_mm.engine.checkpoint_check import (CheckpointMismatchError,
                                              check_checkpoint_fits)


def _save(model, path):
    torch.save(dict(state_dict=model.state_dict()), path)


def test_a_passed_check_is_not_read_again_until_the_file_changes(
        tmp_path, monkeypatch):
    path = str(tmp_path / 'float.pth')
    model = nn.Linear(3, 2)
    _save(model, path)
    check_checkpoint_fits(model, path)

    reads = []
    real = checkpoint_check.checkpoint_state_dict

    def counting(location):
        reads.append(location)
        return real(location)

    monkeypatch.setattr(checkpoint_check, 'checkpoint_state_dict', counting)
    check_checkpoint_fits(nn.Linear(3, 2), path)
    assert reads == []

    # Another architecture is checked for real, and refused.
    with pytest.raises(CheckpointMismatchError, match='does not fit'):
        check_checkpoint_fits(nn.Linear(4, 2), path)
    assert reads == [path]

    # The file replaced by another architecture's weights: read and refused.
    time.sleep(0.01)
    _save(nn.Linear(5, 2), path)
    with pytest.raises(CheckpointMismatchError, match='does not fit'):
        check_checkpoint_fits(nn.Linear(3, 2), path)
    assert reads == [path, path]
