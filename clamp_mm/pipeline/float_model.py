"""The float model of a task config, built and loaded without a Runner:
the one loader of the tools, the benchmark and the experiment scripts."""
import importlib
import os.path as osp
from typing import Optional, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from torch import nn


def runner_model_config(cfg: Config) -> ConfigDict:
    """Return a copy of ``cfg.model`` with the top-level data preprocessor.

    The Runner moves a top-level ``data_preprocessor`` into the model.
    Building ``cfg.model`` alone skips that, and the model then normalises
    with its library's ImageNet default (the Fashion-MNIST ViT drops from
    86 % to 20 % top-1).

    Args:
        cfg (Config): A full task config.

    Returns:
        ConfigDict: The model config to build.
    """
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor', None) is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return model_cfg


def build_float_model(cfg: Union[Config, str],
                      scope: Optional[str] = None) -> nn.Module:
    """Build the model of a task config as the Runner would (see
    :func:`runner_model_config`), in eval mode, randomly initialised.

    Args:
        cfg (Config | str): The config or its file.
        scope (str, optional): Registry scope (``'mmpretrain'``,
            ``'mmdet'``, ``'mmseg'``). Defaults to None: the config's
            ``default_scope``.

    Returns:
        nn.Module: The model.
    """
    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    scope = scope or cfg.get('default_scope', None) or 'mmengine'
    registry = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(runner_model_config(cfg))
    model.eval()  # OpenMMLab Swin's train() returns None, not self
    return model


def load_float_model(config: str,
                     checkpoint: Optional[str] = None,
                     scope: Optional[str] = None,
                     allow_random_init: bool = False,
                     seed: int = 0) -> Tuple[nn.Module, str]:
    """Build the model of ``config`` and load its float weights.

    Args:
        config (str): Task config file.
        checkpoint (str, optional): Float checkpoint. Defaults to None
            (none: allowed only with ``allow_random_init``).
        scope (str, optional): Registry scope. Defaults to None (the
            config's ``default_scope``).
        allow_random_init (bool): Keep the random initialisation when the
            checkpoint is None or missing (smoke runs) instead of failing.
            Defaults to False.
        seed (int): Seed of the random initialisation (the same weights
            on every run without a checkpoint). Defaults to 0.

    Returns:
        tuple[nn.Module, str]: The model in eval mode, and where its weights
        came from (for reports).

    Raises:
        FileNotFoundError: When the config, or without
            ``allow_random_init`` the checkpoint, is missing.
    """
    from mmengine.runner import load_checkpoint
    if not osp.isfile(config):
        raise FileNotFoundError(f'config {config} is missing')
    torch.manual_seed(seed)
    model = build_float_model(config, scope)
    if checkpoint is None or not osp.isfile(checkpoint):
        if not allow_random_init:
            raise FileNotFoundError(
                f'checkpoint {checkpoint} of {config} is missing: train it '
                '(tools/train_classifier.py or tools/train_dense.py) or allow '
                'a random initialisation for a smoke run')
        return model, f'{config}, RANDOMLY INITIALISED (no {checkpoint})'
    load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    model.eval()
    return model, f'{config} + {checkpoint}'
