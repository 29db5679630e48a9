"""clamp_mm.fileio: crash- and disk-full-safe writes shared by every layer.

A leaf package (it imports nothing from clamp_mm), so the synthetic data,
the search and the engine layers write their files the same way: to a
temporary file beside the destination, renamed over it last, the temporary
file removed on any failure, and a full disk reported as one
:class:`DiskFullError` line saying how much space is needed and free.
"""
from .atomic_save import atomic_torch_save, atomic_write_text
from .disk_space import (DiskFullError, check_free_space, format_bytes,
                         free_bytes)
from .fingerprint import differences, file_sha256, tensor_sha256

__all__ = [
    'DiskFullError', 'atomic_torch_save', 'atomic_write_text',
    'check_free_space', 'differences', 'file_sha256', 'format_bytes',
    'free_bytes', 'tensor_sha256'
]
