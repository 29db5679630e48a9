"""Savers on a full disk: one line with the space needed and free, no
temporary file left behind, the earlier file intact."""
import os

import pytest
import torch

from clamp_mm.fileio import DiskFullError, atomic_torch_save
from clamp_mm.search.checkpointing import save_state
from clamp_mm.synth import SyntheticImageDataset


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if '.tmp' in name)


def test_synthetic_images_on_a_full_disk(small_disk):
    path = small_disk / 'synthetic_images.pth'
    SyntheticImageDataset(torch.zeros(1, 3, 4, 4)).save(str(path))
    earlier = path.read_bytes()
    # 300 kB of images on a 200 kB disk.
    images = torch.rand(25, 3, 32, 32)
    with pytest.raises(OSError) as error:
        SyntheticImageDataset(images).save(str(path), overwrite=True)
    message = str(error.value)
    assert 'no space left on device' in message.lower()
    assert 'needs about' in message and 'free' in message
    assert '\n' not in message
    assert leftovers(small_disk) == []
    assert path.read_bytes() == earlier


def test_write_that_runs_out_midway_cleans_up(small_disk, fill_disk):
    """The estimate fits, but the disk fills during the write (another
    process): the temporary file is removed and the error names the
    space."""
    fill_disk(small_disk, leave_bytes=70 * 1024)
    state = dict(images=torch.rand(4, 3, 32, 32))  # 49 kB of tensors
    filler = small_disk / 'filler.bin'
    real_save = torch.save

    def save_then_fill(obj, target):
        with open(filler, 'ab') as file:  # the other process
            try:
                file.write(b'\0' * 60 * 1024)
            except OSError:
                pass
        return real_save(obj, target)

    torch.save = save_then_fill
    try:
        with pytest.raises(DiskFullError) as error:
            save_state(str(small_disk / 'search'), state)
    finally:
        torch.save = real_save
    assert 'needs about' in str(error.value)
    assert leftovers(small_disk / 'search') == []


def test_interrupted_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def interrupted(obj, target):
        with open(target, 'wb') as file:
            file.write(b'partial')
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, 'save', interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save(dict(a=torch.zeros(2)), str(tmp_path / 'x.pth'))
    assert os.listdir(tmp_path) == []
