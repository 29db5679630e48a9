"""Adapter for mmseg SwinTransformer (UperNet ...)."""
from typing import Tuple

from clamp_mm.registry import ADAPTERS
from .openmmlab_swin import OpenMMLabSwinAdapter


@ADAPTERS.register_module()
class MMSegSwinAdapter(OpenMMLabSwinAdapter):
    """mmseg ``SwinTransformer``, bare or as a segmentor's ``backbone``.

    Only the backbone is quantized by default (``scope='backbone'``);
    :meth:`forward_images` returns the backbone's feature maps.
    """
    family = 'mmseg-swin'
    #: ADE20K crop size of the UperNet configs, (H, W).
    default_input_size: Tuple[int, int] = (512, 512)

    @classmethod
    def backbone_classes(cls) -> tuple:
        try:
            from mmseg.models.backbones import SwinTransformer
        except ImportError:
            return ()
        return (SwinTransformer, )
