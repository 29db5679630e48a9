"""clamp_mm.quant."""
