"""Write a file so that no crash, kill or full disk leaves a partial one.

The content goes to ``<path>.tmp<pid>`` beside the destination and is renamed
over it last (``os.replace`` is atomic on POSIX). On any failure the
temporary file is removed, so a full disk is not kept full by leftovers,
and a failure for lack of space becomes one :class:`DiskFullError` line.
"""
import glob
import os
import os.path as osp
from typing import Any, Callable, List

import torch

from .disk_space import (DiskFullError, check_free_space, disk_full_message,
                         free_bytes, is_out_of_space)

#: Bytes torch.save adds per tensor record and per file (zip headers,
#: 64-byte alignment, the pickle), a generous upper bound.
PER_TENSOR_OVERHEAD = 512
PER_FILE_OVERHEAD = 16 * 1024
#: A write that failed with less than this free is taken for a full disk.
NEARLY_FULL_BYTES = 64 * 1024


def estimate_saved_bytes(obj: Any) -> int:
    """An upper estimate of ``torch.save(obj)``'s size: the bytes of every
    tensor in nested dicts, lists and tuples, plus format overhead."""
    total, count = 0, 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            total += item.numel() * item.element_size()
            count += 1
        elif isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(item.keys())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, (str, bytes)):
            total += len(item)
    return total + count * PER_TENSOR_OVERHEAD + PER_FILE_OVERHEAD


def _free_or_zero(folder: str) -> int:
    try:
        return free_bytes(folder)
    except OSError:
        return 0


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_temporaries(path: str) -> List[str]:
    """Remove ``<path>.tmp<pid>`` files of processes that no longer run
    (left by a ``kill -9`` mid-write), so they do not fill the disk.

    Returns:
        list[str]: The files removed.
    """
    removed = []
    for candidate in glob.glob(glob.escape(path) + '.tmp*'):
        suffix = candidate[len(path) + len('.tmp'):]
        if suffix.isdigit() and int(suffix) != os.getpid() and \
                not _process_is_alive(int(suffix)):
            _remove_quietly(candidate)
            removed.append(candidate)
    return removed


def _write_atomically(path: str, needed: int,
                      write: Callable[[str], None]) -> str:
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(path)
    check_free_space(path, needed)
    temporary = f'{path}.tmp{os.getpid()}'
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException as error:  # also KeyboardInterrupt: no leftovers
        # Measured before the clean-up frees the partial file: torch's zip
        # writer reports a full disk only as 'unexpected pos'.
        nearly_full = _free_or_zero(folder) < NEARLY_FULL_BYTES
        _remove_quietly(temporary)
        if isinstance(error, Exception) and (is_out_of_space(error)
                                             or nearly_full):
            raise DiskFullError(disk_full_message(path, needed)) from None
        raise
    return path


def atomic_torch_save(obj: Any, path: str) -> str:
    """``torch.save(obj, path)``, atomically, never leaving a temporary file.

    Args:
        obj: Tensors and plain Python values.
        path (str): Destination (its folder is created if missing).

    Returns:
        str: ``path``.

    Raises:
        DiskFullError: When the file does not fit (checked before writing,
            and when the write fails with little space left); ``path``
            keeps its previous content.
    """
    return _write_atomically(path, estimate_saved_bytes(obj),
                             lambda temporary: torch.save(obj, temporary))


def atomic_write_text(text: str, path: str) -> str:
    """Write ``text`` to ``path`` (UTF-8) atomically; see
    :func:`atomic_torch_save`."""

    def write(temporary: str) -> None:
        with open(temporary, 'w', encoding='utf-8') as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())

    return _write_atomically(path, len(text.encode('utf-8')) + 4096, write)
