"""Real raw material of the composite sets: Fashion-MNIST objects and photos.

Objects come from the Fashion-MNIST IDX files of the Debian package
``dataset-fashion-mnist``; backgrounds are the textures and photographs that
ship inside the scikit-image wheel (``skimage.data``), so nothing is fetched.
"""
from typing import List, Tuple

import numpy as np

# One IDX reader and one class list for the project: the classifier set's.
from .fashion_mnist import DEFAULT_DATA_ROOT as DEFAULT_FASHION_MNIST_ROOT
from .fashion_mnist import FASHION_MNIST_CLASSES, read_fashion_mnist

__all__ = [
    'DEFAULT_FASHION_MNIST_ROOT', 'FASHION_MNIST_CLASSES',
    'read_fashion_mnist', 'BACKGROUND_NAMES', 'load_backgrounds'
]

#: ``skimage.data`` images bundled in the wheel (no pooch download): textures
#: first, then photographs.
BACKGROUND_NAMES = ('brick', 'grass', 'gravel', 'camera', 'moon', 'coins',
                    'astronaut', 'chelsea', 'coffee', 'rocket',
                    'immunohistochemistry', 'hubble_deep_field',
                    'stereo_motorcycle')


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
