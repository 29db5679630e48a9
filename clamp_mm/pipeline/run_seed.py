"""``randomness.seed`` drives every seed of the run unless a component sets
its own.

mmengine seeds torch, numpy and ``random`` from the config's
``randomness.seed``; the generator and the evolutionary search draw from
their own generators, seeded by their ``seed`` fields. Those fields take the
run seed when the config leaves them unset, so a seed study done the
OpenMMLab way (``--cfg-options randomness.seed=1``) changes the images and
the search. Without ``randomness.seed`` each component keeps its default.
"""
from typing import Optional


def configured_run_seed(cfg) -> Optional[int]:
    """``cfg.randomness.seed``, or None when the config sets none.

    Args:
        cfg (Config | dict, optional): The run's config.

    Returns:
        int | None: The seed.

    Raises:
        ValueError: When the seed is not an int.
    """
    randomness = (cfg or {}).get('randomness') or {}
    seed = randomness.get('seed')
    if seed is not None and (isinstance(seed, bool)
                             or not isinstance(seed, int)):
        raise ValueError(f'randomness.seed must be an int or None, got '
                         f'{seed!r}')
    return seed


def seeded(component_cfg: Optional[dict],
           run_seed: Optional[int]) -> Optional[dict]:
    """``component_cfg`` with ``seed=run_seed`` unless it sets a seed.

    Args:
        component_cfg (dict, optional): A generator or calibrator config.
        run_seed (int, optional): From :func:`configured_run_seed`.

    Returns:
        dict | None: A copy with the seed filled in (or the config itself
        when there is nothing to fill in).
    """
    if component_cfg is None or run_seed is None or \
            component_cfg.get('seed') is not None:
        return component_cfg
    return dict(component_cfg, seed=run_seed)
