"""Composite scenes: real Fashion-MNIST objects pasted on real photos.

Real objects, synthetic layout: every object is a real Fashion-MNIST image and
every background a real texture or photograph from ``skimage.data``; only
where, how large and how many objects appear is drawn at random. The same
seed gives the same scenes, and each scene depends only on (seed, split,
index), so any one of them can be regenerated alone.
"""
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence

import numpy as np
from scipy import ndimage
from skimage.transform import resize

from .composite_sources import (DEFAULT_FASHION_MNIST_ROOT, load_backgrounds,
                                read_fashion_mnist)

#: Index of each output split in the seed sequence; also picks the source
#: Fashion-MNIST split so that validation objects are never seen in training.
SPLIT_STREAM = {'train': 0, 'val': 1}
SPLIT_SOURCE = {'train': 'train', 'val': 'test'}


@dataclass
class CompositeScene:
    """One composite image with its instances.

    Args:
        image (np.ndarray): uint8 RGB image, shape (H, W, 3).
        masks (list[np.ndarray]): Visible (after occlusion) bool mask of each
            instance, shape (H, W), in pasting order.
        labels (list[int]): Fashion-MNIST label (0-9) of each instance.
    """
    image: np.ndarray
    masks: List[np.ndarray] = field(default_factory=list)
    labels: List[int] = field(default_factory=list)

    def semantic_map(self) -> np.ndarray:
        """Return the uint8 label map: 0 background, label + 1 on objects."""
        label_map = np.zeros(self.image.shape[:2], dtype=np.uint8)
        for mask, label in zip(self.masks, self.labels):
            label_map[mask] = label + 1
        return label_map


@dataclass
class CompositeSceneConfig:
    """Layout parameters of the composite scenes.

    Args:
        image_size (int): Side of the square images in pixels.
            Defaults to 128.
        min_objects (int): Fewest objects per image. Defaults to 1.
        max_objects (int): Most objects per image. Defaults to 4.
        min_object_scale (float): Smallest object side as a fraction of
            ``image_size`` (the 28x28 object is upscaled to it).
            Defaults to 0.25.
        max_object_scale (float): Largest object side as a fraction of
            ``image_size``. Defaults to 0.5.
        mask_threshold (int): An object pixel belongs to the mask when its
            Fashion-MNIST intensity (0-255) exceeds this; holes inside the
            outline are filled. Defaults to 20.
        min_visible_fraction (float): A placement is rejected when it would
            hide more than ``1 - min_visible_fraction`` of an earlier object.
            Defaults to 0.6.
        max_placement_tries (int): Placements tried per object before it is
            skipped. Defaults to 20.
        jpeg_quality (int): Quality of the written JPEG images.
            Defaults to 95.
    """
    image_size: int = 128
    min_objects: int = 1
    max_objects: int = 4
    min_object_scale: float = 0.25
    max_object_scale: float = 0.5
    mask_threshold: int = 20
    min_visible_fraction: float = 0.6
    max_placement_tries: int = 20
    jpeg_quality: int = 95

    def __post_init__(self):
        if not 32 <= self.image_size <= 1024:
            raise ValueError(f'image_size={self.image_size}, expected 32-1024')
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(f'min_objects={self.min_objects}, max_objects='
                             f'{self.max_objects}: expected 1 <= min <= max')
        if not 0 < self.min_object_scale <= self.max_object_scale <= 1:
            raise ValueError(
                f'object scales ({self.min_object_scale}, '
                f'{self.max_object_scale}): expected 0 < min <= max <= 1')
        if not 0 <= self.mask_threshold < 255:
            raise ValueError(
                f'mask_threshold={self.mask_threshold}, expected 0-254')
        if not 0 < self.min_visible_fraction <= 1:
            raise ValueError(f'min_visible_fraction='
                             f'{self.min_visible_fraction}, expected (0, 1]')


class CompositeSceneGenerator:
    """Draw composite scenes deterministically from a seed.

    Args:
        config (CompositeSceneConfig): Layout parameters.
        seed (int): Seed of every random choice. Defaults to 0.
        fashion_mnist_root (str): Folder of the Fashion-MNIST IDX files.
            Defaults to :data:`DEFAULT_FASHION_MNIST_ROOT`.
    """

    def __init__(self,
                 config: Optional[CompositeSceneConfig] = None,
                 seed: int = 0,
                 fashion_mnist_root: str = DEFAULT_FASHION_MNIST_ROOT):
        self.config = config or CompositeSceneConfig()
        self.seed = seed
        self.fashion_mnist_root = fashion_mnist_root
        self.backgrounds = load_backgrounds()
        self._objects = {}

    def _object_pool(self, split: str):
        if split not in SPLIT_SOURCE:
            raise ValueError(f'split={split!r}, expected one of '
                             f'{sorted(SPLIT_SOURCE)}')
        if split not in self._objects:
            self._objects[split] = read_fashion_mnist(
                SPLIT_SOURCE[split], self.fashion_mnist_root)
        return self._objects[split]

    def scene_rng(self, split: str, index: int) -> np.random.Generator:
        """Return the random generator of one scene: (seed, split, index)."""
        return np.random.default_rng([self.seed, SPLIT_STREAM[split], index])

    def background(self, rng: np.random.Generator) -> np.ndarray:
        """Crop, resize and maybe mirror a random background photo.

        Returns:
            np.ndarray: float32 RGB image in [0, 1], (size, size, 3).
        """
        size = self.config.image_size
        photo = self.backgrounds[rng.integers(len(self.backgrounds))]
        height, width = photo.shape[:2]
        # A crop between half and all of the short side keeps texture scale
        # varied without blowing tiny crops up into blur.
        short_side = min(height, width)
        crop = int(rng.integers(short_side // 2, short_side + 1))
        top = int(rng.integers(0, height - crop + 1))
        left = int(rng.integers(0, width - crop + 1))
        patch = photo[top:top + crop, left:left + crop]
        patch = resize(patch, (size, size), order=1, anti_aliasing=True)
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        return patch.astype(np.float32)

    def cutout(self, rng: np.random.Generator, object_image: np.ndarray):
        """Upscale one 28x28 object and cut its mask out.

        Returns:
            tuple: float32 RGB appearance (s, s, 3) in [0, 1] and bool mask
            (s, s).
        """
        cfg = self.config
        side = int(
            round(cfg.image_size *
                  rng.uniform(cfg.min_object_scale, cfg.max_object_scale)))
        intensity = resize(
            object_image.astype(np.float32), (side, side),
            order=1,
            anti_aliasing=False,
            preserve_range=True)
        mask = ndimage.binary_fill_holes(intensity > cfg.mask_threshold)
        # A random tint keeps the real grey-level texture of the garment
        # while making colour useless as the only cue.
        tint = rng.uniform(0.55, 1.0, size=3).astype(np.float32)
        appearance = (intensity / 255.0)[..., None] * tint
        if rng.random() < 0.5:
            appearance, mask = appearance[:, ::-1], mask[:, ::-1]
        return appearance, mask

    def scene(self, split: str, index: int) -> CompositeScene:
        """Compose scene ``index`` of ``split`` ('train' or 'val')."""
        cfg = self.config
        object_images, object_labels = self._object_pool(split)
        rng = self.scene_rng(split, index)
        canvas = self.background(rng)
        size = cfg.image_size
        num_objects = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
        full_areas, masks, labels = [], [], []
        for _ in range(num_objects):
            source = int(rng.integers(len(object_images)))
            appearance, object_mask = self.cutout(rng, object_images[source])
            if not object_mask.any():
                continue
            side = object_mask.shape[0]
            for _ in range(cfg.max_placement_tries):
                top = int(rng.integers(0, size - side + 1))
                left = int(rng.integers(0, size - side + 1))
                placed = np.zeros((size, size), dtype=bool)
                placed[top:top + side, left:left + side] = object_mask
                still_visible = [(mask & ~placed).sum() / area
                                 for mask, area in zip(masks, full_areas)]
                if all(fraction >= cfg.min_visible_fraction
                       for fraction in still_visible):
                    break
            else:
                continue  # no placement leaves the others visible: skip it
            window = canvas[top:top + side, left:left + side]
            window[object_mask] = appearance[object_mask]
            masks = [mask & ~placed for mask in masks]
            masks.append(placed)
            full_areas.append(int(placed.sum()))
            labels.append(int(object_labels[source]))
        image = np.clip(np.round(canvas * 255.0), 0, 255).astype(np.uint8)
        return CompositeScene(image=image, masks=masks, labels=labels)

    def scenes(self, split: str, num_images: int) -> Iterator[CompositeScene]:
        """Yield scenes 0 .. ``num_images - 1`` of ``split``."""
        for index in range(num_images):
            yield self.scene(split, index)


def scene_file_stem(index: int) -> str:
    """Return the file name stem of scene ``index`` (zero-padded)."""
    return f'{index:06d}'


def split_sizes(num_train: int, num_val: int) -> Sequence[tuple]:
    """Return ((split, count), ...) after checking the counts."""
    for name, count in (('num_train', num_train), ('num_val', num_val)):
        if count < 1:
            raise ValueError(f'{name}={count}, expected at least 1')
    return (('train', num_train), ('val', num_val))
