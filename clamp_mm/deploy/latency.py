"""Interleaved latency measurement of several runners on a noisy machine."""
import statistics
import time
from typing import Callable, Dict, List


def interleaved_latency(runners: Dict[str, Callable[[], object]],
                        rounds: int = 5,
                        runs_per_round: int = 10,
                        warmup: int = 3) -> Dict[str, float]:
    """Median seconds per call of every runner, measured in turns.

    Each round times ``runs_per_round`` calls of every runner in turn, so
    a burst of load from other jobs hits all of them alike; a runner's
    figure is the median over all its timed calls.

    Args:
        runners (dict[str, Callable]): Label to a zero-argument call
            (one batch-1 inference).
        rounds (int): Turns over the runners. Defaults to 5.
        runs_per_round (int): Timed calls per runner and round.
            Defaults to 10.
        warmup (int): Untimed calls of each runner first. Defaults to 3.

    Returns:
        dict[str, float]: Label to median seconds.
    """
    for run in runners.values():
        for _ in range(warmup):
            run()
    timings: Dict[str, List[float]] = {label: [] for label in runners}
    for _ in range(rounds):
        for label, run in runners.items():
            for _ in range(runs_per_round):
                start = time.perf_counter()
                run()
                timings[label].append(time.perf_counter() - start)
    return {label: statistics.median(values)
            for label, values in timings.items()}
