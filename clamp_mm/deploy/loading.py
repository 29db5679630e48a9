"""Build a config's model and restore a quantized checkpoint into it."""
from typing import Tuple

from torch import nn


def build_float_model(config_path: str) -> Tuple[object, nn.Module]:
    """The config's model, as the Runner builds it, in eval mode.

    Args:
        config_path (str): An mmengine config (a ``configs/`` file).

    Returns:
        tuple[Config, nn.Module]: The config and its model (initial
        weights: load a checkpoint next).
    """
    import importlib

    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import clamp_mm  # noqa: F401  (compat patches, registries)
    from clamp_mm.pipeline.float_model import runner_model_config
    cfg = Config.fromfile(config_path)
    scope = cfg.get('default_scope', None) or 'mmpretrain'
    init_default_scope(scope)
    registry = importlib.import_module(f'{scope}.registry')
    model = registry.MODELS.build(runner_model_config(cfg))
    return cfg, model.eval()


def load_quantized_model(config_path: str,
                         quantized_path: str) -> Tuple[object, nn.Module,
                                                       dict]:
    """The fake-quantized model a ``tools/quantize.py`` run saved.

    Uses :func:`clamp_mm.pipeline.quantized_checkpoint.load_quantized`: the
    saved recipe and bit-widths rebuild the quantized structure, then the
    saved state dict (float weights and quantizer ranges) is loaded.

    Args:
        config_path (str): The config the model was quantized with.
        quantized_path (str): Its ``quantized_model.pth``.

    Returns:
        tuple[Config, nn.Module, dict]: The config, the model (quantizers
        in ``'quantize'`` mode, eval mode) and the checkpoint's content.
    """
    from clamp_mm.pipeline.quantized_checkpoint import load_quantized
    cfg, model = build_float_model(config_path)
    content = load_quantized(model, quantized_path)
    return cfg, model.eval(), content
