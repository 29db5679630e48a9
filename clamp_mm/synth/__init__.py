"""clamp_mm.synth."""
