"""ADE20K-layout writer of the composite semantic segmentation set.

Layout (what ``clamp_mm.CompositeADE20KDataset`` and mmseg's ``ADE20KDataset``
layout expect)::

    <root>/images/{training,validation}/000000.jpg
    <root>/annotations/{training,validation}/000000.png

Label maps are single-channel uint8 PNGs: 0 background, ``label + 1`` for the
10 Fashion-MNIST classes (1-10). Unlike ADE20K, 0 is a real class, so the
dataset reads them with ``reduce_zero_label=False``.
"""
import io
import os
import os.path as osp
from typing import Iterable

import numpy as np
from PIL import Image

from .composite import CompositeScene, scene_file_stem

#: ADE20K folder name of each output split.
ADE20K_SPLIT_DIRS = {'train': 'training', 'val': 'validation'}


def encode_label_map(label_map: np.ndarray) -> bytes:
    """Return the PNG bytes of a uint8 (H, W) label map."""
    buffer = io.BytesIO()
    Image.fromarray(label_map, mode='L').save(buffer, format='PNG')
    return buffer.getvalue()


def write_ade20k_split(scenes: Iterable[CompositeScene],
                       encoded_images: Iterable[bytes], root: str,
                       split: str) -> str:
    """Write one split: JPEG images and PNG label maps.

    Args:
        scenes (Iterable[CompositeScene]): Scenes in index order.
        encoded_images (Iterable[bytes]): The JPEG bytes of each scene.
        root (str): Dataset root (``.../ade20k``).
        split (str): ``'train'`` or ``'val'``.

    Returns:
        str: The annotation folder of the split.
    """
    if split not in ADE20K_SPLIT_DIRS:
        raise ValueError(f'split={split!r}, expected one of '
                         f'{sorted(ADE20K_SPLIT_DIRS)}')
    folder = ADE20K_SPLIT_DIRS[split]
    image_dir = osp.join(root, 'images', folder)
    label_dir = osp.join(root, 'annotations', folder)
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(label_dir, exist_ok=True)
    for index, (scene, jpeg) in enumerate(zip(scenes, encoded_images)):
        stem = scene_file_stem(index)
        with open(osp.join(image_dir, stem + '.jpg'), 'wb') as file:
            file.write(jpeg)
        with open(osp.join(label_dir, stem + '.png'), 'wb') as file:
            file.write(encode_label_map(scene.semantic_map()))
    return label_dir
