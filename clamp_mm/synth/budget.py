"""The stage-1 budget: how many optimisation steps a generator spends, in
one place.

Three rules live here and nowhere else:

* a refresh of the cyclic adaptation runs :data:`DEFAULT_REFRESH_ITERATIONS`
  steps unless told otherwise (``SearchConfig.refresh_iterations`` and the
  generators' ``refresh`` share this default);
* the warm-up keeps its share of the steps when the number of steps changes
  (:func:`scaled_warmup`, rounded down);
* a budget of ``N`` steps means ``N`` steps per round for PSAQ-ViT v1 (its
  two rounds change the jitter) and ``N`` steps in total for PSAQ-ViT v2
  (split over its rounds): :func:`budget_fields`.
"""
from typing import Type

#: Generator steps per image refresh of the cyclic adaptation ("a few",
#: method.md section 4; our default).
DEFAULT_REFRESH_ITERATIONS = 10


def scaled_warmup(warmup_iterations: int, iterations: int,
                  reference_iterations: int) -> int:
    """The warm-up of a run of ``iterations`` steps, keeping the share
    ``warmup_iterations / reference_iterations``, rounded down.

    Args:
        warmup_iterations (int): Warm-up steps at the reference length.
        iterations (int): Steps of the run.
        reference_iterations (int): Steps the warm-up was set for.

    Returns:
        int: Warm-up steps of the run.
    """
    if reference_iterations < 1:
        raise ValueError(f'reference_iterations={reference_iterations}, '
                         'expected >= 1')
    return warmup_iterations * iterations // reference_iterations


def budget_fields(generator_cls: Type, budget: int) -> dict:
    """Generator fields that spend a stage-1 budget of ``budget`` steps.

    Read against the class's method.md defaults: ``iterations`` becomes the
    budget (divided over the rounds when the class spends its budget in
    total, ``budget_is_total``), the warm-up keeps its share.

    Args:
        generator_cls (type): An optimising generator class (has
            ``iterations``, ``warmup_iterations`` and ``num_rounds``
            defaults).
        budget (int): Steps (per round, or in total; see above).

    Returns:
        dict: ``iterations`` and, when the class warms up,
        ``warmup_iterations``.
    """
    if not isinstance(budget, int) or budget < 1:
        raise ValueError(f'budget={budget!r}, expected an int >= 1')
    defaults = generator_cls()
    iterations = budget
    if getattr(generator_cls, 'budget_is_total', False):
        iterations = budget // defaults.num_rounds
        if iterations < 1:
            raise ValueError(f'budget={budget} is below one step per round '
                             f'of the {defaults.num_rounds} rounds of '
                             f'{generator_cls.__name__}')
    fields = dict(iterations=iterations)
    if defaults.warmup_iterations:
        fields['warmup_iterations'] = scaled_warmup(
            defaults.warmup_iterations, iterations, defaults.iterations)
    return fields
