"""Build clamp_mm components from configs, or take ready ones."""
from mmengine.registry import DefaultScope


def build_in_scope(registry, cfg):
    """Build ``cfg`` from a clamp_mm registry with clamp_mm as the default
    scope (during a run the default scope is the task's, which these
    parentless registries do not know).

    Args:
        registry (Registry): ``GENERATORS``, ``CALIBRATORS`` ...
        cfg (dict | object): A config dict, or an object already built
            (returned as it is).

    Returns:
        object: The built component.
    """
    if not isinstance(cfg, dict):
        return cfg
    with DefaultScope.overwrite_default_scope('clamp_mm'):
        return registry.build(cfg)
