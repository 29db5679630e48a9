"""Wall time and peak memory of the stages of a quantization run (or of a
benchmark cell).

Memory is the process's resident set size (RSS), sampled by a background
thread: on a CPU run every tensor lives there, and unlike the profiler's
tensor accounting it also sees what the allocator keeps. The figure given
for a stage is its peak RSS minus the RSS when it started, so weights and
data already loaded do not count; it is a sampled peak (every
``interval`` seconds), so a spike shorter than that can be missed.
"""
import os
import resource
import threading
import time
from typing import Dict, Optional

#: Seconds between two RSS samples.
DEFAULT_SAMPLE_INTERVAL = 0.02
_PAGE_BYTES = os.sysconf('SC_PAGE_SIZE') if hasattr(os, 'sysconf') else 4096


def current_rss_bytes() -> int:
    """The process's resident set size now, in bytes.

    Read from ``/proc/self/statm`` (Linux); elsewhere the lifetime peak of
    ``getrusage`` is the best available stand-in.
    """
    try:
        with open('/proc/self/statm') as file:
            return int(file.read().split()[1]) * _PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class StageMeter:
    """Context manager measuring wall time and peak RSS growth of a stage.

    Example::

        meter = StageMeter()
        with meter.stage('generate'):
            images = generator.generate(model, 32)
        meter.seconds['generate'], meter.peak_mib['generate']

    Args:
        interval (float): Seconds between RSS samples.
            Defaults to ``DEFAULT_SAMPLE_INTERVAL``.
    """

    def __init__(self, interval: float = DEFAULT_SAMPLE_INTERVAL) -> None:
        if interval <= 0:
            raise ValueError(f'interval={interval} is invalid, expected > 0')
        self.interval = interval
        #: Wall seconds per stage (summed if a stage name repeats).
        self.seconds: Dict[str, float] = {}
        #: Peak RSS growth per stage in MiB (max if a stage name repeats).
        self.peak_mib: Dict[str, float] = {}
        self._name: Optional[str] = None

    def stage(self, name: str) -> 'StageMeter':
        """Measure the ``with`` block as stage ``name``."""
        if self._name is not None:
            raise RuntimeError(f'stage {name!r} started inside stage '
                               f'{self._name!r}; stages do not nest')
        self._name = name
        return self

    def __enter__(self) -> 'StageMeter':
        if self._name is None:
            raise RuntimeError('use `with meter.stage(name):`')
        self._stop = threading.Event()
        self._start_rss = self._peak_rss = current_rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._started = time.perf_counter()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak_rss = max(self._peak_rss, current_rss_bytes())

    def __exit__(self, *exc_info) -> None:
        elapsed = time.perf_counter() - self._started
        self._stop.set()
        self._thread.join()
        self._peak_rss = max(self._peak_rss, current_rss_bytes())
        growth = (self._peak_rss - self._start_rss) / 2**20
        name, self._name = self._name, None
        self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
        self.peak_mib[name] = max(self.peak_mib.get(name, 0.0), growth)

    def record(self, name: str, seconds: float, peak_mib: float) -> None:
        """Add a stage measured elsewhere (a shared, cached stage)."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.peak_mib[name] = max(self.peak_mib.get(name, 0.0), peak_mib)
