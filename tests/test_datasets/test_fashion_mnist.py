"""Fashion-MNIST from the Debian package: reader, mmpretrain dataset, loader."""
import gzip
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from clamp_mm.datasets.fashion_mnist import (DEFAULT_DATA_ROOT,
                                             FASHION_MNIST_MEAN,
                                             FASHION_MNIST_STD, FashionMNIST,
                                             load_fashion_mnist_images,
                                             read_fashion_mnist)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
needs_data = pytest.mark.skipif(
    not osp.isfile(osp.join(DEFAULT_DATA_ROOT, 't10k-images-idx3-ubyte.gz')),
    reason='apt-get install dataset-fashion-mnist')

# The first labels of each split as published with Fashion-MNIST: they catch
# an image/label misalignment (a wrong header offset shifts every label).
FIRST_TRAIN_LABELS = [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
FIRST_TEST_LABELS = [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]


@pytest.fixture(scope='module')
def test_dataset():
    return FashionMNIST(split='test')


@needs_data
@pytest.mark.parametrize('split,count,first_labels',
                         [('train', 60000, FIRST_TRAIN_LABELS),
                          ('test', 10000, FIRST_TEST_LABELS)])
def test_read_counts_and_labels(split, count, first_labels):
    images, labels = read_fashion_mnist(split)
    assert images.shape == (count, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (count, ) and labels.dtype == np.int64
    assert labels[:10].tolist() == first_labels
    # Fashion-MNIST is balanced: every one of the 10 classes equally often.
    assert np.bincount(labels, minlength=10).tolist() == [count // 10] * 10
    # Real pictures, not an empty or saturated buffer.
    assert 0 == images.min() and images.max() == 255


@needs_data
def test_dataset_serves_rgb_32px_images(test_dataset):
    raw_images, raw_labels = read_fashion_mnist('test')
    assert len(test_dataset) == 10000
    assert test_dataset.metainfo['classes'][9] == 'Ankle boot'
    for index in (0, 1, 4321, 9999):
        info = test_dataset.get_data_info(index)
        image = info['img']
        assert image.shape == (32, 32, 3) and image.dtype == np.uint8
        assert (image[..., 0] == image[..., 1]).all()
        assert (image[..., 0] == image[..., 2]).all()
        assert info['gt_label'] == raw_labels[index]
        assert 0 <= info['gt_label'] <= 9
        # The raw picture resized bilinearly: OpenCV, an independent
        # implementation, agrees within one grey level (rounding).
        reference = cv2.resize(
            raw_images[index], (32, 32), interpolation=cv2.INTER_LINEAR)
        assert np.abs(image[..., 0].astype(int) - reference).max() <= 1


@needs_data
def test_pipeline_packs_3x32x32():
    init_default_scope('mmpretrain')
    dataset = FashionMNIST(
        split='test', indices=8, pipeline=[dict(type='PackInputs')])
    sample = dataset[3]
    assert sample['inputs'].shape == (3, 32, 32)
    assert sample['inputs'].dtype == torch.uint8
    assert int(sample['data_samples'].gt_label) == FIRST_TEST_LABELS[3]


@needs_data
def test_builds_from_an_mmpretrain_config():
    from mmpretrain.registry import DATASETS
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(
        dict(type='clamp_mm.FashionMNIST', split='test', indices=5))
    assert isinstance(dataset, FashionMNIST)
    assert len(dataset) == 5


def test_missing_folder_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match='apt-get install dataset-fashion-mnist'):
        FashionMNIST(split='train', data_root=str(tmp_path / 'absent'))
    with pytest.raises(FileNotFoundError,
                       match='apt-get install dataset-fashion-mnist'):
        load_fashion_mnist_images(4, data_root=str(tmp_path))


def test_bad_split_and_corrupt_file_are_named(tmp_path):
    with pytest.raises(ValueError, match="split='val'"):
        read_fashion_mnist('val', str(tmp_path))
    # A labels file where the images file should be: wrong magic number.
    for name in ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'):
        with gzip.open(tmp_path / name, 'wb') as file:
            file.write((0x801).to_bytes(4, 'big') + (3).to_bytes(4, 'big') +
                       bytes([1, 2, 3]))
    with pytest.raises(ValueError, match='magic number 0x00000801'):
        read_fashion_mnist('test', str(tmp_path))


@needs_data
def test_calibration_images_are_normalised_and_seeded():
    images, labels = load_fashion_mnist_images(
        2000, split='train', seed=0, return_labels=True)
    assert images.shape == (2000, 3, 32, 32) and images.dtype == torch.float32
    assert labels.min() >= 0 and labels.max() <= 9
    # The constants are the training-set statistics: normalised pixels of a
    # large random sample have mean ~0 and std ~1.
    assert abs(images.mean().item()) < 0.05
    assert abs(images.std().item() - 1) < 0.05
    same = load_fashion_mnist_images(32, seed=1)
    assert torch.equal(same, load_fashion_mnist_images(32, seed=1))
    assert not torch.equal(same, load_fashion_mnist_images(32, seed=2))
    first = load_fashion_mnist_images(3, split='test', seed=None,
                                      return_labels=True)[1]
    assert first.tolist() == FIRST_TEST_LABELS[:3]
    with pytest.raises(ValueError, match='num_images=0'):
        load_fashion_mnist_images(0)


def test_config_normalisation_matches_the_constants():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/fashion_mnist/_base_/fashion_mnist_bs64.py'))
    assert tuple(cfg.data_preprocessor.mean) == FASHION_MNIST_MEAN
    assert tuple(cfg.data_preprocessor.std) == FASHION_MNIST_STD
