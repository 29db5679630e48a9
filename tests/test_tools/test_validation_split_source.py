"""The search's and the ablation's validation images are the datasets
module's one ``split='val'``, and their real calibration images never come
from it."""
import os.path as osp

import numpy as np
import pytest
import torch

from clamp_mm.benchmark.ablation import (evaluation_images,
                                         real_calibration_images)
from clamp_mm.benchmark.validation import load_validation_images
from clamp_mm.datasets.fashion_mnist import (DEFAULT_DATA_ROOT,
                                             NUM_VAL_IMAGES,
                                             read_fashion_mnist,
                                             resize_images)

needs_data = pytest.mark.skipif(
    not osp.isfile(osp.join(DEFAULT_DATA_ROOT, 't10k-images-idx3-ubyte.gz')),
    reason='apt-get install dataset-fashion-mnist')


class _Adapter:
    """What the loaders read from an adapter: input size, mean and std."""
    input_size = (32, 32)
    mean_std = ((72.79, ) * 3, (86.29, ) * 3)


def _grey(images):
    """Normalised (N, 3, H, W) images back to uint8 (N, H, W)."""
    mean, std = _Adapter.mean_std
    return (images[:, 0] * std[0] + mean[0]).round().clamp(
        0, 255).to(torch.uint8).numpy()


@needs_data
def test_validation_images_are_the_val_split():
    val_images, val_labels = read_fashion_mnist('val')
    expected = resize_images(val_images[:300], 32)
    images, labels = load_validation_images(_Adapter(), 300)
    assert images.shape == (300, 3, 32, 32)
    assert np.array_equal(_grey(images), expected)
    assert labels.tolist() == val_labels[:300].tolist()
    # The ablation's 'val' evaluation reads the same images.
    ablation_images, ablation_labels = evaluation_images(
        _Adapter(), 'val', 300)
    assert torch.equal(ablation_images, images)
    assert torch.equal(ablation_labels, labels)
    # And they are not the first training images.
    first = resize_images(read_fashion_mnist('train')[0][:300], 32)
    assert not np.array_equal(_grey(images), first)


@needs_data
def test_real_calibration_images_are_outside_val():
    val = {image.tobytes()
           for image in resize_images(read_fashion_mnist('val')[0], 32)}
    drawn = _grey(real_calibration_images(_Adapter(), 64, seed=0))
    assert sum(image.tobytes() in val for image in drawn) == 0


def test_validation_image_count_is_checked():
    for bad in (0, NUM_VAL_IMAGES + 1):
        with pytest.raises(ValueError, match=f'num_images={bad}'):
            load_validation_images(_Adapter(), bad)
