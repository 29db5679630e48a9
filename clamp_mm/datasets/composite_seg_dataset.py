"""mmseg dataset of the ADE20K-layout composite semantic segmentation set."""
from mmseg.datasets import BaseSegDataset

from clamp_mm.registry import DATASETS
from .composite_sources import FASHION_MNIST_CLASSES


@DATASETS.register_module()
class CompositeADE20KDataset(BaseSegDataset):
    """Composite Fashion-MNIST scenes in the ADE20K folder layout.

    Real objects, synthetic layout (see
    :mod:`clamp_mm.datasets.composite`). Label 0 is the background, a class
    like the others, hence ``reduce_zero_label=False``; labels 1-10 are the
    Fashion-MNIST classes. Use ``data_prefix=dict(img_path='images/training',
    seg_map_path='annotations/training')`` (or ``validation``).

    Args:
        img_suffix (str): Image file suffix. Defaults to '.jpg'.
        seg_map_suffix (str): Label map suffix. Defaults to '.png'.
        reduce_zero_label (bool): Whether to map label 0 to 255 (ignored).
            Defaults to False: 0 is the background class.
        **kwargs: Passed to mmseg's ``BaseSegDataset``.
    """
    METAINFO = dict(
        classes=('background', ) + FASHION_MNIST_CLASSES,
        palette=[[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25],
                 [0, 130, 200], [245, 130, 48], [145, 30, 180],
                 [70, 240, 240], [240, 50, 230], [210, 245, 60],
                 [250, 190, 212]])

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False,
                 **kwargs) -> None:
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            **kwargs)
