"""Shared test set-up: one thread (the CI box has 2 cores), clamp_mm imported,
and a tiny disk for disk-full tests."""
import os
import shutil
import subprocess

import pytest
import torch

import clamp_mm  # noqa: F401  applies the compatibility patches

torch.set_num_threads(1)


@pytest.fixture
def small_disk(tmp_path):
    """A 200 kB tmpfs mounted at a temporary folder (needs root; the test
    skips where mounting is not allowed), unmounted afterwards."""
    mount_point = tmp_path / 'small_disk'
    mount_point.mkdir()
    completed = subprocess.run(
        ['mount', '-t', 'tmpfs', '-o', 'size=200k', 'tmpfs',
         str(mount_point)], capture_output=True, text=True)
    if completed.returncode != 0:
        pytest.skip(f'cannot mount a tmpfs here: {completed.stderr.strip()}')
    try:
        yield mount_point
    finally:
        subprocess.run(['umount', '-l', str(mount_point)],
                       capture_output=True)


@pytest.fixture
def fill_disk():
    """``fill(folder, leave_bytes=0)``: fill ``folder``'s file system with
    a ``filler.bin`` until ``leave_bytes`` stay free; returns its path."""

    def fill(folder, leave_bytes: int = 0) -> str:
        path = os.path.join(str(folder), 'filler.bin')
        free = shutil.disk_usage(str(folder)).free
        with open(path, 'ab') as file:
            try:
                file.write(b'\0' * max(0, free - leave_bytes))
                file.flush()
            except OSError:
                pass
        return path

    return fill
