"""Tests of clamp_mm.synth.dataset."""
import copy
import os

import pytest
import torch
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader

from clamp_mm.registry import DATASETS
from clamp_mm.synth import (ClampGenerator, GaussianGenerator,
                            SyntheticImageDataset, model_identity)

TINY = dict(batch_size=2, iterations=2, progress=False, log_interval=0,
            warmup_iterations=1)


def test_save_and_reload_is_bit_identical(vit_adapter, tmp_path):
    dataset = SyntheticImageDataset.from_generator(
        ClampGenerator(seed=7, **TINY), vit_adapter, 3)
    path = str(tmp_path / 'synth.pth')
    dataset.save(path)
    reloaded = SyntheticImageDataset.load(path, model=vit_adapter)
    assert reloaded.images.dtype == dataset.images.dtype
    assert reloaded.images.numpy().tobytes() == \
        dataset.images.numpy().tobytes()
    metadata = reloaded.metadata
    assert metadata['seed'] == 7 and metadata['num_images'] == 3
    assert metadata['generator']['type'] == 'clamp_mm.ClampGenerator'
    assert metadata['generator']['temperature'] == 0.2
    assert metadata['model_identity'] == model_identity(vit_adapter.model)
    assert len(metadata['targets']) == 3
    built = DATASETS.build(
        dict(type='clamp_mm.SyntheticImageDataset', file=path))
    assert torch.equal(built.images, dataset.images)


def test_refuses_to_overwrite_unless_asked(vit_adapter, tmp_path):
    path = str(tmp_path / 'synth.pth')
    first = SyntheticImageDataset(torch.zeros(2, 3, 4, 4))
    first.save(path)
    before = open(path, 'rb').read()
    with pytest.raises(FileExistsError, match='overwrite=True'):
        SyntheticImageDataset(torch.ones(2, 3, 4, 4)).save(path)
    assert open(path, 'rb').read() == before
    SyntheticImageDataset(torch.ones(2, 3, 4, 4)).save(path, overwrite=True)
    assert SyntheticImageDataset.load(path).images.eq(1).all()
    assert [name for name in os.listdir(tmp_path)] == ['synth.pth']


def test_model_identity_follows_weights(vit_adapter, tmp_path):
    other = copy.deepcopy(vit_adapter)
    assert model_identity(other) == model_identity(vit_adapter)
    with torch.no_grad():
        other.model.head.bias[0] += 1e-6
    assert model_identity(other) != model_identity(vit_adapter)
    path = str(tmp_path / 'synth.pth')
    SyntheticImageDataset.from_generator(GaussianGenerator(), vit_adapter,
                                         2).save(path)
    with pytest.raises(ValueError, match='regenerate'):
        SyntheticImageDataset.load(path, model=other)


class _MustNotRun(GaussianGenerator):

    def generate(self, *args, **kwargs):
        raise AssertionError('the cached images should have been reused')


def test_load_or_generate_reuses_matching_file(vit_adapter, tmp_path):
    path = str(tmp_path / 'synth.pth')
    made = SyntheticImageDataset.load_or_generate(
        path, ClampGenerator(**TINY), vit_adapter, 2)
    # A generator whose config is the same but which cannot generate.
    reuser = _MustNotRun()
    reuser.get_config = ClampGenerator(**TINY).get_config
    reused = SyntheticImageDataset.load_or_generate(path, reuser,
                                                    vit_adapter, 2)
    assert torch.equal(reused.images, made.images)
    # Progress and logging settings do not change the images.
    quiet = dict(TINY, progress=True, log_interval=7)
    again = SyntheticImageDataset.load_or_generate(
        path, ClampGenerator(**quiet), vit_adapter, 2)
    assert torch.equal(again.images, made.images)
    with pytest.raises(FileExistsError, match='num_images'):
        SyntheticImageDataset.load_or_generate(
            path, ClampGenerator(**TINY), vit_adapter, 3)


def test_serves_an_mmengine_style_dataloader():
    images = torch.randn(5, 3, 8, 8)
    dataset = SyntheticImageDataset(images)
    loader = DataLoader(dataset, batch_size=2, collate_fn=pseudo_collate)
    batches = list(loader)
    assert len(batches) == 3
    assert torch.equal(torch.stack(batches[0]['inputs']), images[:2])
    with pytest.raises(ValueError, match=r'expected \(N, 3, H, W\)'):
        SyntheticImageDataset(torch.randn(5, 8, 8))
