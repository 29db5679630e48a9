"""clamp_mm."""
