"""Tiny stand-ins for COCO and ADE20K, in their official folder layouts.

What ``configs/swin_t_*mrcnn*.py`` and ``configs/swin_t_upernet_ade20k_*.py``
read, made from the composite scenes (real Fashion-MNIST objects on real
photos, :mod:`clamp_mm.datasets.composite`) at the official image sizes, so
that the used-by commands can be run end to end where COCO and ADE20K
cannot be downloaded::

    <coco_root>/annotations/instances_val2017.json   (COCO's 80 categories)
    <coco_root>/val2017/000000000001.jpg
    <ade_root>/images/validation/ADE_val_00000001.jpg
    <ade_root>/annotations/validation/ADE_val_00000001.png

Each scene is drawn square at the short side and stretched to (H, W); masks
follow with nearest-neighbour sampling. A Fashion-MNIST class ``k`` becomes
the COCO category of index ``k`` in COCO's order and the ADE20K class of
index ``k``: the names are the official ones, the objects are not, so only
the pipelines are exercised, not what a model knows.

ADE20K label maps follow the official convention mmseg's ``ADE20KDataset``
reads with ``reduce_zero_label=True``: 0 is "other" (ignored), 1-150 are the
150 classes. The composite background is written as 0.
"""
import json
import os
import os.path as osp
from typing import List, Sequence, Tuple

import numpy as np
from PIL import Image

from .composite import CompositeSceneConfig, CompositeSceneGenerator
from .composite_ade20k import encode_label_map
from .composite_build import encode_jpeg
from .composite_coco import instance_annotation

#: COCO's 80 category ids, in the order of mmdet's ``CocoDataset`` classes.
COCO_CATEGORY_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42,
    43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
    62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84,
    85, 86, 87, 88, 89, 90)
#: (H, W) of the first COCO val2017 images (000000000139: 426 x 640, ...).
COCO_IMAGE_SIZES = ((426, 640), (480, 640), (640, 427))
#: (H, W) of typical ADE20K validation images.
ADE20K_IMAGE_SIZES = ((512, 683), (512, 512))


def coco_class_names() -> Tuple[str, ...]:
    """COCO's 80 category names, as mmdet's ``CocoDataset`` lists them."""
    from mmdet.datasets import CocoDataset
    return tuple(CocoDataset.METAINFO['classes'])


def ade20k_class_names() -> Tuple[str, ...]:
    """ADE20K's 150 class names, as mmseg's ``ADE20KDataset`` lists them."""
    from mmseg.datasets import ADE20KDataset
    return tuple(ADE20KDataset.METAINFO['classes'])


def _stretched_scenes(num_images: int, sizes: Sequence[Tuple[int, int]],
                      seed: int) -> List[tuple]:
    """Validation scenes stretched to ``sizes`` (cycled): (image, masks,
    labels) per scene."""
    if num_images < 1:
        raise ValueError(f'num_images={num_images}, expected at least 1')
    if not sizes or any(min(size) < 32 for size in sizes):
        raise ValueError(f'sizes={list(sizes)}, expected (H, W) pairs with '
                         'sides >= 32')
    generators = {}
    result = []
    for index in range(num_images):
        height, width = sizes[index % len(sizes)]
        side = min(height, width, 1024)
        if side not in generators:
            generators[side] = CompositeSceneGenerator(
                CompositeSceneConfig(image_size=side), seed=seed)
        scene = generators[side].scene('val', index)
        image = np.asarray(
            Image.fromarray(scene.image).resize((width, height),
                                                Image.BILINEAR))
        masks = [
            np.asarray(
                Image.fromarray(mask.astype(np.uint8)).resize(
                    (width, height), Image.NEAREST)).astype(bool)
            for mask in scene.masks
        ]
        kept = [(mask, label) for mask, label in zip(masks, scene.labels)
                if mask.any()]
        result.append((image, [m for m, _ in kept], [lb for _, lb in kept]))
    return result


def write_coco_val2017(root: str,
                       num_images: int = 2,
                       sizes: Sequence[Tuple[int, int]] = COCO_IMAGE_SIZES,
                       seed: int = 0,
                       jpeg_quality: int = 95) -> str:
    """Write a COCO-layout val2017 split of composite scenes.

    Args:
        root (str): The COCO root (a config's ``data/coco/``).
        num_images (int): Images to write. Defaults to 2.
        sizes (Sequence[tuple[int, int]]): (H, W) of the images, cycled.
            Defaults to :data:`COCO_IMAGE_SIZES`.
        seed (int): Seed of the composite scenes. Defaults to 0.
        jpeg_quality (int): JPEG quality. Defaults to 95.

    Returns:
        str: Path of ``annotations/instances_val2017.json``.
    """
    scenes = _stretched_scenes(num_images, sizes, seed)
    image_dir = osp.join(root, 'val2017')
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    names = coco_class_names()
    categories = [
        dict(id=category_id, name=name, supercategory='')
        for category_id, name in zip(COCO_CATEGORY_IDS, names)
    ]
    images, annotations = [], []
    for index, (image, masks, labels) in enumerate(scenes):
        image_id = index + 1
        file_name = f'{image_id:012d}.jpg'
        with open(osp.join(image_dir, file_name), 'wb') as file:
            file.write(encode_jpeg(image, jpeg_quality))
        images.append(dict(id=image_id, file_name=file_name,
                           height=image.shape[0], width=image.shape[1]))
        for mask, label in zip(masks, labels):
            annotation = instance_annotation(mask, label, image_id,
                                             len(annotations) + 1)
            annotation['category_id'] = COCO_CATEGORY_IDS[label]
            annotations.append(annotation)
    path = osp.join(root, 'annotations', 'instances_val2017.json')
    with open(path, 'w') as file:
        json.dump(dict(info=dict(description='clamp_mm composite scenes in '
                                 'the COCO val2017 layout'),
                       licenses=[], images=images, annotations=annotations,
                       categories=categories), file)
    return path


def write_ade20k_validation(root: str,
                            num_images: int = 2,
                            sizes: Sequence[Tuple[int, int]] = (
                                ADE20K_IMAGE_SIZES),
                            seed: int = 0,
                            jpeg_quality: int = 95) -> str:
    """Write an ADE20K-layout validation split of composite scenes.

    Args:
        root (str): The ADE20K root (a config's
            ``data/ade/ADEChallengeData2016``).
        num_images (int): Images to write. Defaults to 2.
        sizes (Sequence[tuple[int, int]]): (H, W) of the images, cycled.
            Defaults to :data:`ADE20K_IMAGE_SIZES`.
        seed (int): Seed of the composite scenes. Defaults to 0.
        jpeg_quality (int): JPEG quality. Defaults to 95.

    Returns:
        str: The ``annotations/validation`` folder.
    """
    scenes = _stretched_scenes(num_images, sizes, seed)
    image_dir = osp.join(root, 'images', 'validation')
    label_dir = osp.join(root, 'annotations', 'validation')
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(label_dir, exist_ok=True)
    for index, (image, masks, labels) in enumerate(scenes):
        stem = f'ADE_val_{index + 1:08d}'
        label_map = np.zeros(image.shape[:2], dtype=np.uint8)  # 0: other
        for mask, label in zip(masks, labels):
            label_map[mask] = label + 1  # ADE class index ``label``
        with open(osp.join(image_dir, stem + '.jpg'), 'wb') as file:
            file.write(encode_jpeg(image, jpeg_quality))
        with open(osp.join(label_dir, stem + '.png'), 'wb') as file:
            file.write(encode_label_map(label_map))
    return label_dir
