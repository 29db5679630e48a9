"""Re-export: the stage meter lives in :mod:`clamp_mm.pipeline.stage_meter`."""
from clamp_mm.pipeline.stage_meter import (DEFAULT_SAMPLE_INTERVAL,
                                           StageMeter, current_rss_bytes)

__all__ = ['DEFAULT_SAMPLE_INTERVAL', 'StageMeter', 'current_rss_bytes']
