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
                                             FASHION_MNIST_SPLITS,
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
    with pytest.raises(ValueError, match="split='validation'"):
        read_fashion_mnist('validation', str(tmp_path))
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


@needs_data
def test_val_and_train55k_cut_the_training_images_in_two():
    train_images, train_labels = read_fashion_mnist('train')
    val_images, val_labels = read_fashion_mnist('val')
    fit_images, fit_labels = read_fashion_mnist('train55k')
    assert val_images.shape == (5000, 28, 28) and val_labels.shape == (5000, )
    assert fit_images.shape == (55000, 28, 28)
    assert fit_labels.shape == (55000, )
    # val is the last 5,000 training images, train55k the first 55,000: in
    # that order they are the whole training split, image for image.
    assert np.array_equal(np.concatenate([fit_images, val_images]),
                          train_images)
    assert np.array_equal(np.concatenate([fit_labels, val_labels]),
                          train_labels)
    assert fit_labels[:10].tolist() == FIRST_TRAIN_LABELS
    # Disjoint as pictures, not only as index ranges: no val image appears
    # among the 55k (Fashion-MNIST holds no exact duplicates across them).
    fit_keys = {image.tobytes() for image in fit_images}
    assert not any(image.tobytes() in fit_keys for image in val_images)
    # Every class is in the held-out part (450..527 images each).
    assert np.bincount(val_labels, minlength=10).min() >= 400


@needs_data
def test_val_split_serves_through_dataset_and_loader():
    raw_images, raw_labels = read_fashion_mnist('train')
    dataset = FashionMNIST(split='val')
    assert len(dataset) == 5000
    info = dataset.get_data_info(0)
    assert info['gt_label'] == raw_labels[55000]
    reference = cv2.resize(
        raw_images[55000], (32, 32), interpolation=cv2.INTER_LINEAR)
    assert np.abs(info['img'][..., 0].astype(int) - reference).max() <= 1
    assert len(FashionMNIST(split='train55k')) == 55000
    # The loader's first images of val are training images 55000.. too.
    _, labels = load_fashion_mnist_images(8, split='val', seed=None,
                                          return_labels=True)
    assert labels.tolist() == raw_labels[55000:55008].tolist()
    # A seeded draw stays inside the split it was asked for.
    with pytest.raises(ValueError, match='1..5000 for the val split'):
        load_fashion_mnist_images(5001, split='val')


@needs_data
def test_val_split_builds_from_a_config():
    from mmpretrain.registry import DATASETS
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(
        dict(type='clamp_mm.FashionMNIST', split='val', indices=3))
    assert len(dataset) == 3 and dataset.split == 'val'


def test_bad_split_lists_every_allowed_one(tmp_path):
    for call in (lambda: read_fashion_mnist('valid', str(tmp_path)),
                 lambda: FashionMNIST(split='valid',
                                      data_root=str(tmp_path)),
                 lambda: load_fashion_mnist_images(
                     4, split='valid', data_root=str(tmp_path))):
        with pytest.raises(ValueError) as error:
            call()
        message = str(error.value)
        assert "split='valid'" in message and '\n' not in message
        assert all(repr(name) in message for name in FASHION_MNIST_SPLITS)
