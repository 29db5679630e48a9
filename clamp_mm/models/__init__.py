"""clamp_mm.models: one adapter per backbone family.

Importing this package registers every adapter in
``clamp_mm.registry.ADAPTERS``; an adapter whose library (timm, mmdet,
mmseg, mmpretrain) is missing simply matches no model.
"""
from .base import ModelAdapter, TokenTap, find_adapter
from .explicit_mha import ExplicitMultiheadAttention
from .grid import (record_hw_shape, record_output_hw_shape, recorded_hw_shape,
                   resolve_grid_size, sequence_to_grid, windows_to_grid)
from .mmdet_swin import MMDetSwinAdapter
from .mmpretrain_swin import MMPretrainSwinAdapter
from .mmpretrain_vit import MMPretrainViTAdapter
from .mmseg_swin import MMSegSwinAdapter
from .mmseg_vit import MMSegViTAdapter
from .observer_calibration import calibrate_observers
from .openmmlab_attention import (QuantMMPretrainMultiheadAttentionMixin,
                                  QuantWindowMSAMixin, quantized_class)
from .openmmlab_base import OpenMMLabAdapter
from .openmmlab_swin import OpenMMLabSwinAdapter
from .timm_swin import QuantTimmWindowAttention, TimmSwinAdapter
from .timm_vit import QuantTimmAttention, TimmViTAdapter

__all__ = [
    'ExplicitMultiheadAttention', 'MMDetSwinAdapter', 'MMPretrainSwinAdapter',
    'MMPretrainViTAdapter', 'MMSegSwinAdapter', 'MMSegViTAdapter',
    'ModelAdapter', 'OpenMMLabAdapter', 'OpenMMLabSwinAdapter',
    'QuantMMPretrainMultiheadAttentionMixin', 'QuantTimmAttention',
    'QuantTimmWindowAttention', 'QuantWindowMSAMixin', 'TimmSwinAdapter',
    'TimmViTAdapter', 'TokenTap', 'calibrate_observers', 'find_adapter',
    'quantized_class',
    'record_hw_shape', 'record_output_hw_shape', 'recorded_hw_shape',
    'resolve_grid_size', 'sequence_to_grid', 'windows_to_grid'
]
