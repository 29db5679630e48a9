"""Re-export: the calibration-set synthesis lives in
:mod:`clamp_mm.pipeline.synthesis`."""
from clamp_mm.pipeline.synthesis import synthesize

__all__ = ['synthesize']
