"""clamp_mm.datasets."""
