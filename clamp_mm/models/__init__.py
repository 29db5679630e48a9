"""clamp_mm.models."""
