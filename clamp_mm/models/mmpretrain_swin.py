"""Adapter for mmpretrain SwinTransformer (bare or in an ImageClassifier)."""
from clamp_mm.registry import ADAPTERS
from .mmpretrain_common import MMPretrainClassifierMixin
from .openmmlab_swin import OpenMMLabSwinAdapter


@ADAPTERS.register_module()
class MMPretrainSwinAdapter(MMPretrainClassifierMixin, OpenMMLabSwinAdapter):
    """mmpretrain ``SwinTransformer``; inside an ``ImageClassifier``,
    :meth:`forward_images` returns class logits."""
    family = 'mmpretrain-swin'

    @classmethod
    def backbone_classes(cls) -> tuple:
        try:
            from mmpretrain.models.backbones import SwinTransformer
        except ImportError:
            return ()
        return (SwinTransformer, )
