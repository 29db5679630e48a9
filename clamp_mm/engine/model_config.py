"""The model config exactly as the mmengine Runner would build it."""
from mmengine.config import Config, ConfigDict


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
