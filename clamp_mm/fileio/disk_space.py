"""Free space on the file system of a folder, and the error for too little."""
import errno
import os
import shutil
from typing import Optional

#: errno values that mean the file system (or the user's quota) is full.
OUT_OF_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(OSError):
    """Too little space to write a file (errno ``ENOSPC``); ``str()`` is one
    line saying how much was needed and how much is free.

    Args:
        message (str): That line.
    """

    def __init__(self, message: str) -> None:
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror


def format_bytes(size: int) -> str:
    """``size`` in B, kB, MB or GB (powers of 1000), e.g. ``'1.5 MB'``."""
    for unit, scale in (('GB', 1e9), ('MB', 1e6), ('kB', 1e3)):
        if abs(size) >= scale:
            return f'{size / scale:.1f} {unit}'
    return f'{int(size)} B'


def free_bytes(folder: str) -> int:
    """Bytes an unprivileged writer can still use in ``folder``'s file
    system (``shutil.disk_usage(folder).free``)."""
    return shutil.disk_usage(folder).free


def disk_full_message(path: str, needed: int,
                      free: Optional[int] = None) -> str:
    """The one line of a :class:`DiskFullError` for writing ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    if free is None:
        free = free_bytes(folder)
    return (f'no space left on device to write {path}: it needs about '
            f'{format_bytes(needed)}, {format_bytes(free)} free in {folder}; '
            'free some space or choose another --work-dir')


def check_free_space(path: str, needed: int) -> None:
    """Raise :class:`DiskFullError` unless ``needed`` bytes fit beside
    ``path`` (nothing is written).

    Args:
        path (str): The file about to be written.
        needed (int): Its estimated size in bytes.
    """
    folder = os.path.dirname(os.path.abspath(path))
    free = free_bytes(folder)
    if free < needed:
        raise DiskFullError(disk_full_message(path, needed, free))


def is_out_of_space(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) says the disk is
    full. torch's zip writer hides the errno (``unexpected pos``), so the
    caller also compares the free space with what it needed."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in OUT_OF_SPACE_ERRNOS:
            return True
        if 'No space left on device' in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False
