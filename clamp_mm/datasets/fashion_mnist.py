"""Fashion-MNIST read from the Debian package ``dataset-fashion-mnist``.

The project's real-data ground: no ImageNet and no pretrained ViT weights are
reachable here, so the float classifiers that every accuracy figure is measured
on are small ViT/DeiT/Swin models trained on Fashion-MNIST. The images are
served at 32x32 with 3 identical channels so that a patch-4 model sees an 8x8
token grid and an RGB-shaped input, like an ImageNet ViT does.

Splits: ``'train'`` (all 60,000 training images), ``'test'`` (10,000), and
the training images cut in two disjoint parts: ``'val'`` (the last 5,000,
indices 55000..59999, where defaults are chosen) and ``'train55k'`` (the
first 55,000, indices 0..54999, what a model trains on when ``'val'`` must
stay unseen). The test split only scores finished models.
"""
import gzip
import os.path as osp
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmpretrain.datasets import BaseDataset

from clamp_mm.registry import DATASETS

#: Where the Debian package ``dataset-fashion-mnist`` puts the IDX files.
DEFAULT_DATA_ROOT = '/usr/share/datasets/fashion-mnist'

#: The class names, in label order (0..9).
FASHION_MNIST_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                         'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')

#: Per-channel pixel mean and std (0..255 scale) of the 60k training images
#: after the bilinear resize to 32x32; the same value on all 3 channels. The
#: configs' ``data_preprocessor`` repeats these numbers.
FASHION_MNIST_MEAN = (72.79, 72.79, 72.79)
FASHION_MNIST_STD = (86.29, 86.29, 86.29)

_SPLIT_FILES = {
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}

#: How many training images are held out as the validation split.
NUM_VAL_IMAGES = 5000

#: The two parts of the 60,000 training images, by split name: the file they
#: are read from and the slice of its images they take. ``'val'`` is the last
#: :data:`NUM_VAL_IMAGES` training images (indices 55000..59999), held out to
#: choose defaults on; ``'train55k'`` is the other 55,000 (indices
#: 0..54999), the images a model is trained on when val must stay unseen.
TRAIN_SUBSETS = {
    'train55k': ('train', slice(0, 60000 - NUM_VAL_IMAGES)),
    'val': ('train', slice(60000 - NUM_VAL_IMAGES, 60000)),
}

#: Every split name :func:`read_fashion_mnist` and :class:`FashionMNIST`
#: accept: ``'train'`` (all 60,000 training images), ``'train55k'`` and
#: ``'val'`` (its two disjoint parts) and ``'test'`` (10,000).
FASHION_MNIST_SPLITS = ('train', 'train55k', 'val', 'test')


def check_split(split: str) -> None:
    """Raise a one-line ValueError unless ``split`` is a known split.

    Args:
        split (str): The split name to check.
    """
    if split not in FASHION_MNIST_SPLITS:
        raise ValueError(f"split={split!r} is not a Fashion-MNIST split, "
                         f'expected one of {list(FASHION_MNIST_SPLITS)}')
# IDX magic numbers: 0x0000 08 (unsigned byte) 0N (number of dimensions).
_IMAGES_MAGIC = 0x00000803
_LABELS_MAGIC = 0x00000801


def _read_idx(path: str, expected_magic: int) -> np.ndarray:
    """Read one gzipped IDX file into a uint8 array.

    Args:
        path (str): Path of the ``*-idx?-ubyte.gz`` file.
        expected_magic (int): The magic number the file must start with.

    Returns:
        np.ndarray: uint8 array of the shape stored in the header.
    """
    with gzip.open(path, 'rb') as file:
        raw = file.read()
    magic = int.from_bytes(raw[0:4], 'big')
    if magic != expected_magic:
        raise ValueError(f'{path} starts with magic number {magic:#010x}, '
                         f'expected {expected_magic:#010x} (an IDX file of '
                         'unsigned bytes)')
    num_dims = magic & 0xFF
    shape = tuple(
        int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big')
        for i in range(num_dims))
    header_size = 4 + 4 * num_dims
    expected_size = header_size + int(np.prod(shape))
    if len(raw) != expected_size:
        raise ValueError(f'{path} holds {len(raw)} bytes, expected '
                         f'{expected_size} for an IDX array of shape {shape}')
    # bytearray: a writable buffer, so torch.from_numpy does not warn later.
    return np.frombuffer(
        bytearray(raw), dtype=np.uint8, offset=header_size).reshape(shape)


def read_fashion_mnist(
        split: str = 'train',
        data_root: str = DEFAULT_DATA_ROOT) -> Tuple[np.ndarray, np.ndarray]:
    """Read the raw 28x28 grayscale images and the labels of one split.

    Args:
        split (str): ``'train'`` (all 60,000 training images),
            ``'train55k'`` (training images 0..54999), ``'val'`` (training
            images 55000..59999, held out for choices) or ``'test'``
            (10,000). Defaults to ``'train'``.
        data_root (str): Folder holding the four gzipped IDX files.
            Defaults to :data:`DEFAULT_DATA_ROOT`.

    Returns:
        tuple[np.ndarray, np.ndarray]: uint8 images of shape (N, 28, 28) and
        int64 labels of shape (N,).
    """
    check_split(split)
    file_split, subset = TRAIN_SUBSETS.get(split, (split, slice(None)))
    image_file, label_file = (osp.join(data_root, name)
                              for name in _SPLIT_FILES[file_split])
    for path in (image_file, label_file):
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'Fashion-MNIST file {path} not found: run `apt-get install '
                'dataset-fashion-mnist` (Debian) or set data_root to a folder '
                'holding the gzipped IDX files')
    images = _read_idx(image_file, _IMAGES_MAGIC)
    labels = _read_idx(label_file, _LABELS_MAGIC).astype(np.int64)
    if len(images) != len(labels):
        raise ValueError(f'{image_file} holds {len(images)} images but '
                         f'{label_file} holds {len(labels)} labels')
    return images[subset], labels[subset]


def resize_images(images: np.ndarray, image_size: int) -> np.ndarray:
    """Resize (N, H, W) uint8 grayscale images bilinearly to a square size.

    Args:
        images (np.ndarray): uint8 array of shape (N, H, W).
        image_size (int): Side of the output images.

    Returns:
        np.ndarray: uint8 array of shape (N, image_size, image_size).
    """
    if images.shape[1:] == (image_size, image_size):
        return images
    # One batched interpolation over the whole split: about a second for the
    # 60k training images, versus minutes through a per-sample pipeline.
    pixels = torch.from_numpy(np.ascontiguousarray(images)).float()[:, None]
    resized = F.interpolate(
        pixels, size=(image_size, image_size), mode='bilinear',
        align_corners=False)
    return resized[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()


def load_fashion_mnist_images(num_images: int = 32,
                              split: str = 'train',
                              data_root: str = DEFAULT_DATA_ROOT,
                              image_size: int = 32,
                              seed: Optional[int] = 0,
                              mean: Sequence[float] = FASHION_MNIST_MEAN,
                              std: Sequence[float] = FASHION_MNIST_STD,
                              return_labels: bool = False):
    """Return real Fashion-MNIST images as a normalised float batch.

    This is the real-data calibration baseline: the same images a classifier
    of ``configs/fashion_mnist`` sees after its data preprocessor.

    Args:
        num_images (int): How many images. Defaults to 32.
        split (str): One of :data:`FASHION_MNIST_SPLITS` (``'train'``,
            ``'train55k'``, ``'val'``, ``'test'``); the seeded choice is
            made within the split. Defaults to ``'train'``.
        data_root (str): Folder of the IDX files.
            Defaults to :data:`DEFAULT_DATA_ROOT`.
        image_size (int): Side of the returned images. Defaults to 32.
        seed (int, optional): Seed of the random choice of images (without
            replacement); None takes the first ``num_images`` of the split.
            Defaults to 0.
        mean (Sequence[float]): Per-channel mean on the 0..255 scale.
            Defaults to :data:`FASHION_MNIST_MEAN`.
        std (Sequence[float]): Per-channel std on the 0..255 scale.
            Defaults to :data:`FASHION_MNIST_STD`.
        return_labels (bool): Also return the labels. Defaults to False.

    Returns:
        torch.Tensor | tuple[torch.Tensor, torch.Tensor]: float32 images of
        shape (num_images, 3, image_size, image_size), and with
        ``return_labels`` the int64 labels of shape (num_images,).
    """
    images, labels = read_fashion_mnist(split, data_root)
    if not 0 < num_images <= len(images):
        raise ValueError(f'num_images={num_images} is out of range, expected '
                         f'1..{len(images)} for the {split} split')
    if seed is None:
        chosen = np.arange(num_images)
    else:
        chosen = np.sort(
            np.random.default_rng(seed).choice(
                len(images), num_images, replace=False))
    gray = torch.from_numpy(resize_images(images[chosen], image_size)).float()
    rgb = gray[:, None].expand(-1, 3, -1, -1)
    mean_tensor = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_tensor = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    normalised = ((rgb - mean_tensor) / std_tensor).contiguous()
    if return_labels:
        return normalised, torch.from_numpy(labels[chosen])
    return normalised


@DATASETS.register_module(name='FashionMNIST')
class FashionMNIST(BaseDataset):
    """Fashion-MNIST as an mmpretrain dataset, read from the Debian package.

    Each sample's ``img`` is a (image_size, image_size, 3) uint8 array: the
    grayscale image resized bilinearly once at load time and repeated on 3
    channels, so models and pipelines written for RGB ImageNet images run
    unchanged. Use it from an mmpretrain config as
    ``dict(type='clamp_mm.FashionMNIST', split='train', pipeline=[...])``.

    Args:
        split (str): ``'train'`` (60,000 images), ``'train55k'`` (the
            first 55,000 of them), ``'val'`` (the last 5,000, held out for
            choices) or ``'test'`` (10,000). Defaults to ``'train'``.
        data_root (str): Folder holding the gzipped IDX files.
            Defaults to :data:`DEFAULT_DATA_ROOT`.
        image_size (int): Side of the served images. Defaults to 32.
        **kwargs: Other arguments of mmpretrain's ``BaseDataset``
            (``pipeline``, ``indices``, ``test_mode``, ...).
    """

    METAINFO = {'classes': FASHION_MNIST_CLASSES}

    def __init__(self,
                 split: str = 'train',
                 data_root: str = DEFAULT_DATA_ROOT,
                 image_size: int = 32,
                 **kwargs):
        check_split(split)
        if image_size < 1:
            raise ValueError(f'image_size={image_size}, expected >= 1')
        self.split = split
        self.image_size = image_size
        self._images = None
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def load_data_list(self):
        """Read the split; each entry keeps an image index and its label.

        The pixels stay in one array held by the dataset rather than in the
        entries, so mmengine's serialisation of ``data_list`` does not pickle
        60,000 small arrays.
        """
        images, labels = read_fashion_mnist(self.split, self.data_root)
        self._images = resize_images(images, self.image_size)
        return [
            dict(image_index=index, gt_label=int(label))
            for index, label in enumerate(labels)
        ]

    def get_data_info(self, idx: int) -> dict:
        """Return the annotation of one sample with its 3-channel image."""
        data_info = super().get_data_info(idx)
        gray = self._images[data_info['image_index']]
        data_info['img'] = np.repeat(gray[:, :, None], 3, axis=2)
        data_info['img_shape'] = data_info['ori_shape'] = gray.shape
        return data_info

    def extra_repr(self):
        """Lines added to the dataset's repr."""
        return [
            f'Split: \t{self.split}',
            f'Image size: \t{self.image_size}',
            f'Data root: \t{self.data_root}',
        ]


__all__ = [
    'DEFAULT_DATA_ROOT', 'FASHION_MNIST_CLASSES', 'FASHION_MNIST_MEAN',
    'FASHION_MNIST_SPLITS', 'FASHION_MNIST_STD', 'FashionMNIST',
    'NUM_VAL_IMAGES', 'TRAIN_SUBSETS', 'check_split',
    'load_fashion_mnist_images', 'read_fashion_mnist', 'resize_images'
]
