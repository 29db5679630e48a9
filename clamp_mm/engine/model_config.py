"""Re-export: the model config the Runner builds lives in
:mod:`clamp_mm.pipeline.float_model`."""
from clamp_mm.pipeline.float_model import runner_model_config

__all__ = ['runner_model_config']
