"""Search state files: random generator states, atomic writes, refusal."""
import random

import numpy as np
import pytest
import torch

from clamp_mm.search.checkpointing import (STATE_FILE, capture_rng_states,
                                           load_state, restore_rng_states,
                                           save_state)


def _draws(generator):
    return (torch.rand(3, generator=generator).tolist(),
            torch.rand(3).tolist(), np.random.rand(3).tolist(),
            [random.random() for _ in range(3)])


def test_rng_states_survive_a_state_file(tmp_path):
    generator = torch.Generator().manual_seed(7)
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    save_state(str(tmp_path), dict(fingerprint=dict(a=1),
                                   rng=capture_rng_states(generator)))
    expected = _draws(generator)
    state = load_state(str(tmp_path), dict(a=1))
    restore_rng_states(state['rng'], generator)
    assert _draws(generator) == expected


def test_missing_state_and_mismatch(tmp_path):
    assert load_state(None, {}) is None
    assert load_state(str(tmp_path), {}) is None
    save_state(str(tmp_path), dict(fingerprint=dict(seed=0, passes=10)))
    assert not (tmp_path / (STATE_FILE + '.tmp')).exists()
    with pytest.raises(ValueError, match='passes: saved 10, now 3'):
        load_state(str(tmp_path), dict(seed=0, passes=3))
    # The refused file is left as it was.
    assert load_state(str(tmp_path), dict(seed=0, passes=10)) is not None
