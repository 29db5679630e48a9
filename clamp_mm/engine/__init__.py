"""clamp_mm.engine."""
