"""clamp_mm.search."""
