"""Adapter for mmdet SwinTransformer (Mask R-CNN, Cascade Mask R-CNN ...)."""
from typing import Tuple

from clamp_mm.registry import ADAPTERS
from .openmmlab_swin import OpenMMLabSwinAdapter


@ADAPTERS.register_module()
class MMDetSwinAdapter(OpenMMLabSwinAdapter):
    """mmdet ``SwinTransformer``, bare or as a detector's ``backbone``.

    Only the backbone is quantized by default (``scope='backbone'``);
    :meth:`forward_images` returns the backbone's feature maps.
    """
    family = 'mmdet-swin'
    #: COCO test scale of the Mask R-CNN configs, (H, W).
    default_input_size: Tuple[int, int] = (800, 1333)

    @classmethod
    def backbone_classes(cls) -> tuple:
        try:
            from mmdet.models.backbones import SwinTransformer
        except ImportError:
            return ()
        return (SwinTransformer, )
