"""Run tools/quantize.py in a forked child with one fault injected.

A fault is a dict: ``dict(kind='kill', at='generation'|'search'|'save',
index=k)`` sends SIGKILL to the child at the k-th (1-based) Adam step of
the generator, candidate scored by the search, or atomic file write (half
written, or written but not renamed: ``save_mode='partial'|'unrenamed'``);
``dict(kind='fill_disk', index=k)`` fills the work dir's disk just before
the k-th atomic write (``fill_disk()``, a callable the caller passes,
fills it). ``dict(kind='count')`` injects nothing and records
how many of each event the run had. Forking keeps the parent's imports, so
a run costs about a second.
"""
import json
import os
import signal
import sys
import traceback


def _install(fault: dict, counts: dict, fill_disk) -> None:
    import torch

    import clamp_mm.fileio.atomic_save as atomic_save
    from clamp_mm.search.fitness import BlockScorer

    def event(name: str) -> bool:
        counts[name] = counts.get(name, 0) + 1
        if name == 'search' and 'first_search_after' not in counts:
            counts['first_search_after'] = counts.get('generation', 0)
        return (fault.get('at') == name
                and counts[name] == fault.get('index'))

    real_step = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        if event('generation') and fault['kind'] == 'kill':
            os.kill(os.getpid(), signal.SIGKILL)
        return real_step(self, *args, **kwargs)

    torch.optim.Adam.step = step
    real_score = BlockScorer.__call__

    def score(self, genome):
        if event('search') and fault['kind'] == 'kill':
            os.kill(os.getpid(), signal.SIGKILL)
        return real_score(self, genome)

    BlockScorer.__call__ = score
    real_write = atomic_save._write_atomically

    def write_atomically(path, needed, write):
        if not event('save'):
            return real_write(path, needed, write)
        if fault['kind'] == 'fill_disk':
            fill_disk()
            return real_write(path, needed, write)

        def write_then_die(temporary):
            write(temporary)
            if fault.get('save_mode') == 'partial':
                with open(temporary, 'r+b') as file:
                    file.truncate(os.path.getsize(temporary) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

        return real_write(path, needed, write_then_die)

    atomic_save._write_atomically = write_atomically


def run_with_fault(tool, argv, fault: dict, log_dir: str, fill_disk=None):
    """Fork, inject ``fault``, run ``tool.main(argv)``; returns
    ``(how, code, stderr, counts)`` with ``how`` 'exit' or 'killed'."""
    os.makedirs(log_dir, exist_ok=True)
    counts_file = os.path.join(log_dir, 'counts.json')
    err_file = os.path.join(log_dir, 'stderr.txt')
    for path in (counts_file, err_file):
        if os.path.exists(path):
            os.remove(path)
    pid = os.fork()
    if pid == 0:
        code = 1
        counts = {}
        try:
            out = os.open(os.path.join(log_dir, 'stdout.txt'),
                          os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            err = os.open(err_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(out, 1)
            os.dup2(err, 2)
            sys.stdout = os.fdopen(1, 'w', buffering=1)
            sys.stderr = os.fdopen(2, 'w', buffering=1)
            _install(fault, counts, fill_disk)
            tool.main(list(argv))
            code = 0
        except SystemExit as exit_info:
            code = exit_info.code if isinstance(exit_info.code, int) else 1
        except BaseException:  # noqa: B902  reported to the parent
            traceback.print_exc()
            code = 1
        finally:
            try:
                with open(counts_file, 'w') as file:
                    json.dump(counts, file)
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    with open(err_file) as file:
        stderr = file.read()
    counts = {}
    if os.path.exists(counts_file):
        with open(counts_file) as file:
            counts = json.load(file)
    if os.WIFSIGNALED(status):
        return 'killed', os.WTERMSIG(status), stderr, counts
    return 'exit', os.WEXITSTATUS(status), stderr, counts
