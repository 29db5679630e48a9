"""Build the composite detection and segmentation sets in one call."""
import io
import os.path as osp
import shutil
from typing import Dict, Optional, Sequence

from PIL import Image

from .composite import (CompositeSceneConfig, CompositeSceneGenerator,
                        split_sizes)
from .composite_ade20k import write_ade20k_split
from .composite_coco import write_coco_split
from .composite_sources import DEFAULT_FASHION_MNIST_ROOT

#: Output formats and the sub-folder each is written to.
FORMAT_DIRS = {'coco': 'coco', 'ade20k': 'ade20k'}


def encode_jpeg(image, quality: int) -> bytes:
    """Return the JPEG bytes of a uint8 RGB image (deterministic)."""
    buffer = io.BytesIO()
    Image.fromarray(image, mode='RGB').save(
        buffer, format='JPEG', quality=quality, subsampling=0)
    return buffer.getvalue()


def build_composite_datasets(
        out_dir: str,
        seed: int = 0,
        num_train: int = 2000,
        num_val: int = 250,
        formats: Sequence[str] = ('coco', 'ade20k'),
        config: Optional[CompositeSceneConfig] = None,
        fashion_mnist_root: str = DEFAULT_FASHION_MNIST_ROOT,
        overwrite: bool = False) -> Dict[str, str]:
    """Write the composite sets; the same arguments give identical bytes.

    Both formats hold the same scenes: the COCO set with instance masks, the
    ADE20K-layout set with their semantic label maps.

    Args:
        out_dir (str): Output folder; each format goes to a sub-folder
            (``coco/``, ``ade20k/``).
        seed (int): Seed of the layout. Defaults to 0.
        num_train (int): Training images. Defaults to 2000.
        num_val (int): Validation images. Defaults to 250.
        formats (Sequence[str]): Any of ``'coco'`` and ``'ade20k'``.
            Defaults to both.
        config (CompositeSceneConfig, optional): Layout parameters.
            Defaults to ``CompositeSceneConfig()``.
        fashion_mnist_root (str): Folder of the Fashion-MNIST IDX files.
            Defaults to :data:`DEFAULT_FASHION_MNIST_ROOT`.
        overwrite (bool): Replace format folders that already exist instead
            of refusing. Defaults to False.

    Returns:
        dict: Root folder of each written format.
    """
    unknown = sorted(set(formats) - set(FORMAT_DIRS))
    if unknown or not formats:
        raise ValueError(f'formats={list(formats)}, expected a non-empty '
                         f'subset of {sorted(FORMAT_DIRS)}')
    roots = {name: osp.join(out_dir, FORMAT_DIRS[name]) for name in formats}
    existing = [root for root in roots.values() if osp.exists(root)]
    if existing and not overwrite:
        raise FileExistsError(f'{existing} already exist; pass overwrite=True '
                              '(--overwrite) to replace them')
    splits = split_sizes(num_train, num_val)
    generator = CompositeSceneGenerator(
        config, seed=seed, fashion_mnist_root=fashion_mnist_root)
    for root in existing:  # only after every argument has been checked
        shutil.rmtree(root)
    quality = generator.config.jpeg_quality
    for split, count in splits:
        scenes = list(generator.scenes(split, count))
        jpegs = [encode_jpeg(scene.image, quality) for scene in scenes]
        if 'coco' in roots:
            write_coco_split(scenes, jpegs, roots['coco'], split)
        if 'ade20k' in roots:
            write_ade20k_split(scenes, jpegs, roots['ade20k'], split)
    return roots


def point_config_at_composite(cfg, data_dir: str):
    """Send a dense config's data and evaluator to another composite build.

    Used to score a model on a regenerated subset: scenes depend only on
    (seed, split, index), so the first N validation scenes of a small build
    equal those of the full one.

    Args:
        cfg (mmengine.Config): A config under ``configs/dense/``; changed in
            place.
        data_dir (str): ``out_dir`` of :func:`build_composite_datasets`.

    Returns:
        mmengine.Config: ``cfg``.
    """
    is_coco = 'ann_file' in cfg.val_dataloader.dataset
    root = osp.join(data_dir, FORMAT_DIRS['coco' if is_coco else 'ade20k'])
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader) is not None:
            cfg[loader].dataset.data_root = root
    if is_coco:
        ann_file = osp.join(root, 'annotations', 'instances_val.json')
        for evaluator in ('val_evaluator', 'test_evaluator'):
            if cfg.get(evaluator) is not None:
                cfg[evaluator].ann_file = ann_file
    return cfg
