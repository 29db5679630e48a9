"""What the mmpretrain adapters share: the ImageClassifier around them."""
from typing import List

from torch import nn


def is_image_classifier(model: nn.Module) -> bool:
    """Whether ``model`` is an mmpretrain ``ImageClassifier`` with a head."""
    try:
        from mmpretrain.models.classifiers import ImageClassifier
    except ImportError:
        return False
    return isinstance(model, ImageClassifier) and model.with_head


class MMPretrainClassifierMixin:
    """``has_head`` and ``head_names`` of an mmpretrain adapter."""

    @property
    def has_head(self) -> bool:
        return is_image_classifier(self.model)

    def head_names(self) -> List[str]:
        return ['head'] if self.has_head else []
