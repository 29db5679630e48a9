"""SearchConfig.output_guard: a block visit that raises the model-output
disagreement on the search images is undone."""
import torch

from clamp_mm.models import find_adapter
from clamp_mm.search import SearchConfig
from clamp_mm.search.search_run import SearchRun
from clamp_mm.synth.losses import output_disagreement
from search_models import quantized_tiny


def _disagreement(run: SearchRun) -> float:
    with torch.no_grad():
        return float(output_disagreement(
            run.fp_adapter.forward_images(run.images),
            find_adapter(run.model).forward_images(run.images), True))


class RecordingRun(SearchRun):
    """Keeps the disagreement after every visit."""

    after_visits = None

    def visit(self, visit_index):
        super().visit(visit_index)
        self.after_visits.append(_disagreement(self))


def _run(output_guard: bool):
    _, model, images = quantized_tiny('timm_vit')
    # A wide mutation moves the model far from the observers, so some
    # visits raise the output disagreement.
    config = SearchConfig.fast(passes=3, cycles=2, children_per_cycle=4,
                               mutation_levels=3.0, output_guard=output_guard,
                               cyclic_adaptation=False)
    run = RecordingRun(config, model, images)
    run.after_visits = []
    start = _disagreement(run)
    result = run.execute()
    return run, start, result


def test_guarded_visits_never_raise_the_output_disagreement():
    run, start, _ = _run(output_guard=True)
    values = [start] + run.after_visits
    assert all(later <= earlier + 1e-6
               for earlier, later in zip(values, values[1:])), values
    guarded = [e for e in run.history if 'visit_kept' in e]
    # One record per visit, on its last cycle.
    assert len(guarded) == len(run.after_visits)
    for entry in guarded:
        assert entry['visit_kept'] == (entry['guard_after'] <=
                                       entry['guard_before'])
    assert run.counters.get('visits_undone', 0) == sum(
        not e['visit_kept'] for e in guarded)


def test_unguarded_search_does_raise_it_on_the_same_run():
    # Without the guard the same search does raise the disagreement at some
    # visit: the guarded test above is not vacuous.
    run, start, _ = _run(output_guard=False)
    values = [start] + run.after_visits
    assert any(later > earlier + 1e-6
               for earlier, later in zip(values, values[1:])), values
    assert not any('visit_kept' in e for e in run.history)
