"""The stage-1 budget rules, in one place."""
import pytest

from clamp_mm.search import SearchConfig
from clamp_mm.synth import ClampGenerator, PSAQv1Generator, PSAQv2Generator
from clamp_mm.synth.budget import (DEFAULT_REFRESH_ITERATIONS, budget_fields,
                                   scaled_warmup)


def test_the_warmup_keeps_its_share_rounded_down():
    assert scaled_warmup(100, 500, 500) == 100
    assert scaled_warmup(100, 8, 500) == 1  # 1.6 steps
    assert scaled_warmup(5, 2, 20) == 0  # 0.5 steps
    with pytest.raises(ValueError, match='reference_iterations'):
        scaled_warmup(1, 1, 0)


def test_a_budget_is_per_round_for_v1_and_in_total_for_v2():
    assert budget_fields(ClampGenerator, 50) == dict(iterations=50,
                                                     warmup_iterations=10)
    assert budget_fields(PSAQv1Generator, 50) == dict(iterations=50)
    assert budget_fields(PSAQv2Generator, 50) == dict(iterations=12)
    with pytest.raises(ValueError, match='below one step per round'):
        budget_fields(PSAQv2Generator, 3)
    with pytest.raises(ValueError, match='budget=0'):
        budget_fields(ClampGenerator, 0)


def test_the_search_and_the_generators_share_the_refresh_default():
    import inspect
    assert SearchConfig().refresh_iterations == DEFAULT_REFRESH_ITERATIONS
    for cls in (ClampGenerator, PSAQv1Generator):
        default = inspect.signature(cls.refresh).parameters['iterations']
        assert default.default == DEFAULT_REFRESH_ITERATIONS
