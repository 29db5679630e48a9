"""clamp_mm.models: one adapter per backbone family.

Importing this package registers every adapter whose library is installed
in ``clamp_mm.registry.ADAPTERS``.
"""
from .base import ModelAdapter, TokenTap, find_adapter
from .grid import (record_hw_shape, recorded_hw_shape, resolve_grid_size,
                   sequence_to_grid, windows_to_grid)
from .timm_swin import QuantTimmWindowAttention, TimmSwinAdapter
from .timm_vit import QuantTimmAttention, TimmViTAdapter

__all__ = [
    'ModelAdapter', 'QuantTimmAttention', 'QuantTimmWindowAttention',
    'TimmSwinAdapter', 'TimmViTAdapter', 'TokenTap',
    'find_adapter', 'record_hw_shape', 'recorded_hw_shape',
    'resolve_grid_size', 'sequence_to_grid', 'windows_to_grid'
]
