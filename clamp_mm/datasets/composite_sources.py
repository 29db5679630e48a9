"""Real raw material of the composite sets: Fashion-MNIST objects and photos.

Objects come from the Fashion-MNIST IDX files of the Debian package
``dataset-fashion-mnist``; backgrounds are the textures and photographs that
ship inside the scikit-image wheel (``skimage.data``), so nothing is fetched.
"""
import gzip
import os.path as osp
from typing import List, Tuple

import numpy as np

#: Where the Debian package ``dataset-fashion-mnist`` installs the IDX files.
DEFAULT_FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist'

#: The 10 Fashion-MNIST categories, in label order.
FASHION_MNIST_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                         'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')

#: File stem of each split in the IDX distribution.
_SPLIT_PREFIX = {'train': 'train', 'test': 't10k'}

#: ``skimage.data`` images bundled in the wheel (no pooch download): textures
#: first, then photographs.
BACKGROUND_NAMES = ('brick', 'grass', 'gravel', 'camera', 'moon', 'coins',
                    'astronaut', 'chelsea', 'coffee', 'rocket',
                    'immunohistochemistry', 'hubble_deep_field',
                    'stereo_motorcycle')


def read_idx(path: str) -> np.ndarray:
    """Read a (optionally gzipped) IDX file into an array.

    Args:
        path (str): Path to an ``*-idx?-ubyte`` file, gzipped or not.

    Returns:
        np.ndarray: The uint8 array with the shape stored in the header.
    """
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as file:
        raw = file.read()
    zero, dtype_code, num_dims = raw[0] * 256 + raw[1], raw[2], raw[3]
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f'{path} is not an unsigned-byte IDX file: header '
                         f'{raw[:4].hex()}, expected 0000 08 0n')
    shape = tuple(
        int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big')
        for i in range(num_dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * num_dims)
    if data.size != int(np.prod(shape)):
        raise ValueError(f'{path} holds {data.size} values, header says '
                         f'shape {shape}')
    return data.reshape(shape)


def load_fashion_mnist(root: str = DEFAULT_FASHION_MNIST_ROOT,
                       split: str = 'train') -> Tuple[np.ndarray, np.ndarray]:
    """Load one Fashion-MNIST split from its IDX files.

    Args:
        root (str): Folder holding the four ``*-ubyte.gz`` files.
            Defaults to :data:`DEFAULT_FASHION_MNIST_ROOT`.
        split (str): ``'train'`` (60k images) or ``'test'`` (10k images).
            Defaults to ``'train'``.

    Returns:
        tuple: uint8 images of shape (N, 28, 28) and int64 labels (N,).
    """
    if split not in _SPLIT_PREFIX:
        raise ValueError(f'split={split!r}, expected one of '
                         f'{sorted(_SPLIT_PREFIX)}')
    prefix = _SPLIT_PREFIX[split]
    paths = []
    for kind in ('images-idx3', 'labels-idx1'):
        candidates = [
            osp.join(root, f'{prefix}-{kind}-ubyte{suffix}')
            for suffix in ('.gz', '')
        ]
        found = [path for path in candidates if osp.isfile(path)]
        if not found:
            raise FileNotFoundError(
                f'Fashion-MNIST file {candidates[0]} not found. Install it '
                'with `apt-get install dataset-fashion-mnist` or pass the '
                'folder holding the IDX files.')
        paths.append(found[0])
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f'{paths[0]} holds {images.shape[0]} images but '
                         f'{paths[1]} holds {labels.shape[0]} labels')
    return images, labels.astype(np.int64)


def load_backgrounds(names: Tuple[str, ...] = BACKGROUND_NAMES
                     ) -> List[np.ndarray]:
    """Load ``skimage.data`` images as float RGB arrays in [0, 1].

    Args:
        names (tuple[str]): Function names in ``skimage.data``.
            Defaults to :data:`BACKGROUND_NAMES`.

    Returns:
        list[np.ndarray]: One (H, W, 3) float32 array per name.
    """
    from skimage import data as skimage_data
    backgrounds = []
    for name in names:
        loader = getattr(skimage_data, name, None)
        if loader is None:
            raise ValueError(f'skimage.data has no image {name!r}')
        image = loader()
        if name == 'stereo_motorcycle':  # returns (left, right, disparity)
            image = image[0]
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = image[..., :3].astype(np.float32)
        backgrounds.append(image / 255.0)
    return backgrounds
