"""Re-export: quantized checkpoints live in
:mod:`clamp_mm.pipeline.quantized_checkpoint` (no Runner needed)."""
from clamp_mm.pipeline.quantized_checkpoint import (CHECKPOINT_KIND,
                                                    CHECKPOINT_VERSION,
                                                    QuantizedCheckpointError,
                                                    load_quantized,
                                                    read_quantized,
                                                    save_quantized)

__all__ = [
    'QuantizedCheckpointError',
    'CHECKPOINT_KIND', 'CHECKPOINT_VERSION', 'load_quantized',
    'read_quantized', 'save_quantized'
]
