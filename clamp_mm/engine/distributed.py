"""Re-export: the distributed helpers live in
:mod:`clamp_mm.pipeline.distributed` (they need mmengine.dist, not a
Runner)."""
from clamp_mm.pipeline.distributed import (broadcast_quantization,
                                           broadcast_tensor, gather_images,
                                           share_of_images)

__all__ = [
    'broadcast_quantization', 'broadcast_tensor', 'gather_images',
    'share_of_images'
]
