"""What the OpenMMLab adapters (mmpretrain, mmdet, mmseg) share: finding the
backbone inside a classifier / detector / segmentor, normalisation from the
data preprocessor, and running the model on images."""
from typing import List, Sequence, Tuple, Union

import torch
from torch import nn

from .base import ModelAdapter

#: ImageNet normalisation on the 0-255 scale, the OpenMMLab default.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


class OpenMMLabAdapter(ModelAdapter):
    """Base of the OpenMMLab adapters; not registered itself.

    The adapted model is either a bare backbone of one of
    :meth:`backbone_classes`, or any model whose ``backbone`` attribute is
    one (an mmpretrain ``ImageClassifier``, an mmdet detector, an mmseg
    segmentor).
    """

    #: (H, W) used when neither the data preprocessor nor the backbone
    #: says what resolution the model runs at.
    default_input_size: Tuple[int, int] = (224, 224)

    @classmethod
    def backbone_classes(cls) -> tuple:
        """Backbone classes this adapter handles; () when the library is
        missing."""
        raise NotImplementedError

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        classes = cls.backbone_classes()
        if not classes:
            return False
        return isinstance(model, classes) or isinstance(
            getattr(model, 'backbone', None), classes)

    def backbone(self) -> nn.Module:
        if isinstance(self.model, self.backbone_classes()):
            return self.model
        return self.model.backbone

    @property
    def prefix(self) -> str:
        """The backbone's name followed by a dot (``''`` for a bare
        backbone), to build dotted names inside :attr:`model`."""
        name = self.backbone_name
        return f'{name}.' if name else ''

    # ---- what the model is -------------------------------------------------
    @property
    def has_head(self) -> bool:
        return False

    @property
    def mean_std(self) -> Tuple[Sequence[float], Sequence[float]]:
        preprocessor = getattr(self.model, 'data_preprocessor', None)
        mean = getattr(preprocessor, 'mean', None)
        std = getattr(preprocessor, 'std', None)
        if isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor):
            return mean.flatten().tolist(), std.flatten().tolist()
        return list(IMAGENET_MEAN), list(IMAGENET_STD)

    @property
    def input_size(self) -> Tuple[int, int]:
        """The data preprocessor's fixed ``size`` (mmseg crop size), else the
        patch embedding's configured input size, else
        :attr:`default_input_size`."""
        preprocessor = getattr(self.model, 'data_preprocessor', None)
        size = getattr(preprocessor, 'size', None)
        if isinstance(size, (tuple, list)) and len(size) == 2:
            return tuple(int(s) for s in size)
        embed = getattr(self.backbone(), 'patch_embed', None)
        size = getattr(embed, 'init_input_size', None)
        if isinstance(size, (tuple, list)) and len(size) == 2:
            return tuple(int(s) for s in size)
        return tuple(self.default_input_size)

    def forward_images(
            self, images: torch.Tensor
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        if self.has_head:
            return self.model(images, mode='tensor')
        return self.backbone()(images)

    def patch_embed_names(self) -> List[str]:
        return [f'{self.prefix}patch_embed']
