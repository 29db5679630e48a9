"""Save and restore the search state, so an interrupted search continues.

The state is written after every block visit, atomically (a temporary file
renamed over the old one), and holds only tensors and plain Python values,
so it loads with ``torch.load(weights_only=True)``: a state file can never
run code.
"""
import os.path as osp
import pickle
import random
from typing import Any, Dict, Optional

import numpy as np
import torch

from clamp_mm.fileio import atomic_torch_save, differences

#: File name of the search state inside the work dir.
STATE_FILE = 'search_state.pth'
#: Bumped when the layout of the state changes.
STATE_VERSION = 1


class SearchStateError(ValueError):
    """A saved search state that cannot be resumed (corrupt, another
    version, another search); the message is one line."""


def capture_rng_states(generator: torch.Generator) -> Dict[str, Any]:
    """The states of every random generator the search may touch.

    Args:
        generator (torch.Generator): The search's own generator.

    Returns:
        dict: torch (global CPU, and CUDA when available), numpy, Python
        ``random`` and the search generator, as tensors and plain values.
    """
    numpy_state = np.random.get_state()
    states = dict(
        search=generator.get_state(),
        torch=torch.get_rng_state(),
        numpy=dict(name=numpy_state[0],
                   keys=torch.from_numpy(numpy_state[1].astype(np.int64)),
                   position=int(numpy_state[2]),
                   has_gauss=int(numpy_state[3]),
                   cached_gaussian=float(numpy_state[4])),
        python=_python_state_to_plain(random.getstate()))
    if torch.cuda.is_available():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: Dict[str, Any],
                       generator: torch.Generator) -> None:
    """Inverse of :func:`capture_rng_states`."""
    generator.set_state(states['search'])
    torch.set_rng_state(states['torch'])
    numpy_state = states['numpy']
    np.random.set_state(
        (numpy_state['name'], numpy_state['keys'].numpy().astype(np.uint32),
         numpy_state['position'], numpy_state['has_gauss'],
         numpy_state['cached_gaussian']))
    version, internal, gauss_next = states['python']
    random.setstate((version, tuple(internal), gauss_next))
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])


def _python_state_to_plain(state: tuple) -> tuple:
    version, internal, gauss_next = state
    return version, list(internal), gauss_next


def save_state(work_dir: str, state: Dict[str, Any]) -> str:
    """Write ``state`` to ``work_dir/search_state.pth`` atomically.

    Args:
        work_dir (str): Directory (created if missing).
        state (dict): Tensors and plain Python values.

    Returns:
        str: The path written.
    """
    return atomic_torch_save(dict(state, version=STATE_VERSION),
                             osp.join(work_dir, STATE_FILE))


def read_state_file(path: str) -> Dict[str, Any]:
    """Read a state file written by :func:`save_state`.

    Raises:
        SearchStateError: When it is corrupt, truncated, or of another
            state version.
    """
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as error:
        reason = ' '.join(str(error).split())[:100]
        raise SearchStateError(
            f'search state {path} is corrupt or truncated ({reason}); '
            'remove it (tools/quantize.py --restart) to start the search '
            'afresh') from None
    version = state.get('version') if isinstance(state, dict) else None
    if version != STATE_VERSION:
        raise SearchStateError(f'{path} has state version {version}, '
                               f'expected {STATE_VERSION}; move it away to '
                               'start afresh')
    return state


def load_state(work_dir: Optional[str],
               fingerprint: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The saved state in ``work_dir``, or None when there is none.

    Args:
        work_dir (str, optional): Directory of the state file.
        fingerprint (dict): What the saved search must have been run with
            (config and model layout); compared with the saved one.

    Returns:
        dict | None: The state.

    Raises:
        SearchStateError: When the saved state is corrupt or belongs to a
            different search (other config, images, bit-widths, model,
            state version); the message names what differs and the file,
            which is left untouched.
    """
    if work_dir is None:
        return None
    path = osp.join(work_dir, STATE_FILE)
    if not osp.isfile(path):
        return None
    state = read_state_file(path)
    saved = state.get('fingerprint', {})
    found = differences(saved, fingerprint,
                        '{key}: saved {old}, now {new}') + [
        f'{key}: only in the {"saved" if key in saved else "new"} search'
        for key in sorted(set(saved) ^ set(fingerprint))]
    if found:
        more = f'; and {len(found) - 3} more' if len(found) > 3 else ''
        raise SearchStateError(f'{path} was written by a different search '
                               f'({"; ".join(found[:3])}{more}); use another '
                               'work_dir or resume=False')
    return state
