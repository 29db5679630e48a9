"""COCO-format writer of the composite instance segmentation set.

Layout (what mmdet's ``CocoDataset`` reads with ``data_prefix=dict(
img='images/<split>/')`` and ``ann_file='annotations/instances_<split>.json'``)::

    <root>/images/{train,val}/000000.jpg
    <root>/annotations/instances_{train,val}.json

Masks are compressed RLE, boxes ``[x, y, w, h]`` are the tight extents of the
visible mask, ``area`` is its pixel count, ``iscrowd`` is 0.
"""
import json
import os
import os.path as osp
from typing import Iterable, List

import numpy as np
from pycocotools import mask as mask_utils

from .composite import CompositeScene, scene_file_stem
from .composite_sources import FASHION_MNIST_CLASSES


def coco_categories() -> List[dict]:
    """Return the COCO ``categories``: id ``label + 1``, Fashion-MNIST name."""
    return [
        dict(id=label + 1, name=name, supercategory='fashion')
        for label, name in enumerate(FASHION_MNIST_CLASSES)
    ]


def mask_to_box(mask: np.ndarray) -> List[int]:
    """Return the tight ``[x, y, w, h]`` box of a non-empty bool mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError('mask is empty, expected at least one pixel')
    return [
        int(cols[0]),
        int(rows[0]),
        int(cols[-1] - cols[0] + 1),
        int(rows[-1] - rows[0] + 1)
    ]


def instance_annotation(mask: np.ndarray, label: int, image_id: int,
                        annotation_id: int) -> dict:
    """Return the COCO annotation of one instance mask."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return dict(
        id=annotation_id,
        image_id=image_id,
        category_id=label + 1,
        segmentation=rle,
        area=int(mask.sum()),
        bbox=mask_to_box(mask),
        iscrowd=0)


def write_coco_split(scenes: Iterable[CompositeScene], encoded_images:
                     Iterable[bytes], root: str, split: str) -> str:
    """Write one split: JPEG images and ``instances_<split>.json``.

    Args:
        scenes (Iterable[CompositeScene]): Scenes in index order.
        encoded_images (Iterable[bytes]): The JPEG bytes of each scene.
        root (str): Dataset root (``.../coco``).
        split (str): ``'train'`` or ``'val'``.

    Returns:
        str: Path of the written annotation file.
    """
    image_dir = osp.join(root, 'images', split)
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    images, annotations = [], []
    for index, (scene, jpeg) in enumerate(zip(scenes, encoded_images)):
        file_name = scene_file_stem(index) + '.jpg'
        with open(osp.join(image_dir, file_name), 'wb') as file:
            file.write(jpeg)
        image_id = index + 1
        height, width = scene.image.shape[:2]
        images.append(
            dict(id=image_id, file_name=file_name, height=height,
                 width=width))
        for mask, label in zip(scene.masks, scene.labels):
            annotations.append(
                instance_annotation(mask, label, image_id,
                                    len(annotations) + 1))
    content = dict(
        info=dict(
            description='clamp_mm composite set: real Fashion-MNIST objects, '
            'synthetic layout, skimage.data backgrounds'),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=coco_categories())
    path = osp.join(root, 'annotations', f'instances_{split}.json')
    with open(path, 'w') as file:
        json.dump(content, file, separators=(',', ':'))
    return path
