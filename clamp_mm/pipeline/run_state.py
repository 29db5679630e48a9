"""The run fingerprint: what decides a run's result, recorded in its work dir.

A rerun into a work dir resumes the search state an earlier run left there.
That is only right when everything that decides the result is the same:
the recipe, the generator config and its seed, the number and resolution of
the images, the search config and its seed, the run seed, the quantized
sub-module, the float checkpoint's bytes, the loaded float weights and the
calibration images. The loop records those in ``run_state.json`` before it
writes any search state; a later run whose fingerprint differs while
search state is present stops with :class:`RunStateMismatchError`, one line
naming what differs and how to go on (another ``--work-dir``, or
``--restart``). It never resumes another run's state.
"""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional

from clamp_mm.fileio import (atomic_write_text, differences, file_sha256,
                             tensor_sha256)

#: File of the recorded fingerprint, in the work dir.
RUN_STATE_FILE = 'run_state.json'
#: Bumped when the fingerprint's layout changes.
RUN_STATE_VERSION = 1
#: Generator fields that do not change the images.
COSMETIC_GENERATOR_FIELDS = ('progress', 'log_interval')
#: Differences named in a mismatch message.
MAX_NAMED_DIFFERENCES = 3

__all__ = ['RunStateMismatchError', 'check_run_state', 'config_fingerprint',
           'discard_run_state', 'record_run_state', 'tensor_sha256']


class RunStateMismatchError(ValueError):
    """The work dir holds the state of a run with other settings."""


def _canonical(value: Any) -> Any:
    """JSON's view of ``value`` (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value, default=str))


def config_fingerprint(recipe: dict, generator: dict,
                       search: Optional[dict], num_images: int,
                       resolution, quantized_module: Optional[str],
                       checkpoint: Optional[str],
                       run_seed: Optional[int]) -> Dict[str, Any]:
    """The part of the fingerprint known before the model is loaded.

    Args:
        recipe (dict): ``QuantRecipe.to_dict()``.
        generator (dict): The generator's ``get_config()`` (with its seed).
        search (dict, optional): ``SearchConfig.fingerprint()`` (with its
            seed); None without a search.
        num_images (int): Synthetic images.
        resolution: The configured resolution (None: the model's).
        quantized_module (str, optional): ``test_cfg.quantized_module``.
        checkpoint (str, optional): The float checkpoint (hashed).
        run_seed (int, optional): ``randomness.seed``.

    Returns:
        dict: Plain JSON data.
    """
    generator = {key: value for key, value in generator.items()
                 if key not in COSMETIC_GENERATOR_FIELDS}
    return _canonical(dict(
        recipe=recipe, generator=generator, search=search,
        num_images=num_images, resolution=resolution,
        quantized_module=quantized_module,
        checkpoint_sha256=file_sha256(checkpoint), run_seed=run_seed))


def describe_mismatch(work_dir: str, found: List[str]) -> str:
    """The one line of a :class:`RunStateMismatchError`."""
    named = '; '.join(found[:MAX_NAMED_DIFFERENCES])
    more = len(found) - MAX_NAMED_DIFFERENCES
    if more > 0:
        named += f'; and {more} more'
    return (f'work dir {work_dir} holds the search state of a run with other '
            f'settings ({named}): pass another --work-dir to keep it, or '
            '--restart to discard it and start afresh')


def read_run_state(work_dir: str) -> Optional[Dict[str, Any]]:
    """The recorded fingerprint, or None (none, or unreadable)."""
    path = osp.join(work_dir, RUN_STATE_FILE)
    try:
        with open(path, encoding='utf-8') as file:
            content = json.load(file)
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or \
            content.get('version') != RUN_STATE_VERSION:
        return None
    return content.get('fingerprint')


def check_run_state(work_dir: str, fingerprint: Dict[str, Any],
                    search_state_file: Optional[str]) -> None:
    """Refuse to go on where resumable state belongs to another run.

    Args:
        work_dir (str): The run's work dir.
        fingerprint (dict): This run's fingerprint (or the part known yet).
        search_state_file (str, optional): The search state a rerun would
            resume; nothing is checked when it does not exist.

    Raises:
        RunStateMismatchError: When search state exists and the recorded
            fingerprint differs, or no fingerprint was recorded (a work dir
            of an older version, or a lost file: its state cannot be
            trusted).
    """
    if search_state_file is None or not osp.isfile(search_state_file):
        return
    from clamp_mm.search.checkpointing import read_state_file
    read_state_file(search_state_file)  # corrupt: one line, before a Runner
    recorded = read_run_state(work_dir)
    if recorded is None:
        raise RunStateMismatchError(describe_mismatch(
            work_dir, [f'{RUN_STATE_FILE} missing or unreadable, so the '
                       f'origin of {search_state_file} is unknown']))
    found = differences(recorded, _canonical(fingerprint))
    if found:
        raise RunStateMismatchError(describe_mismatch(work_dir, found))


def record_run_state(work_dir: str, fingerprint: Dict[str, Any],
                     keep_recorded: bool = False) -> str:
    """Write ``fingerprint`` to ``work_dir/run_state.json`` atomically.

    Args:
        work_dir (str): The run's work dir.
        fingerprint (dict): This run's fingerprint (or the part known yet).
        keep_recorded (bool): Merge over the recorded fingerprint, keeping
            keys the new part lacks (the images' hash, measured later), for
            a run that resumes the recorded one. Defaults to False (the
            recorded fingerprint is replaced).

    Returns:
        str: The file written.
    """
    recorded = (read_run_state(work_dir) or {}) if keep_recorded else {}
    merged = dict(recorded, **_canonical(fingerprint))
    os.makedirs(work_dir, exist_ok=True)
    return atomic_write_text(
        json.dumps(dict(version=RUN_STATE_VERSION, fingerprint=merged),
                   indent=1, sort_keys=True),
        osp.join(work_dir, RUN_STATE_FILE))


def discard_run_state(work_dir: str, search_state_file: str) -> List[str]:
    """Remove the recorded fingerprint and the search state (``--restart``).

    Returns:
        list[str]: The files removed.
    """
    removed = []
    for path in (search_state_file, osp.join(work_dir, RUN_STATE_FILE)):
        if osp.isfile(path):
            os.remove(path)
            removed.append(path)
    return removed


def begin_run(work_dir: str, fingerprint: Dict[str, Any],
              search_state_file: Optional[str]) -> None:
    """Check the recorded fingerprint against this run's, then record it
    (before any search state is written).

    Raises:
        RunStateMismatchError: See :func:`check_run_state`.
    """
    check_run_state(work_dir, fingerprint, search_state_file)
    resuming = search_state_file is not None and osp.isfile(
        search_state_file)
    record_run_state(work_dir, fingerprint, keep_recorded=resuming)


def confirm_inputs(work_dir: str, measured: Dict[str, Any],
                   search_state_file: Optional[str],
                   images_reused: bool) -> None:
    """Check and record the fingerprint's measured part (images and float
    weights hashes) once they are known.

    Freshly generated images make any search state stale: it is removed,
    so the search starts afresh (a kill before its first save leaves
    nothing to resume by mistake).

    Raises:
        RunStateMismatchError: When reused images or the float weights
            differ from the recorded ones while search state exists.
    """
    if not images_reused:
        if search_state_file is not None and osp.isfile(search_state_file):
            os.remove(search_state_file)
    else:
        check_run_state(work_dir, measured, search_state_file)
    record_run_state(work_dir, measured, keep_recorded=True)


def search_state_path(search_work_dir: Optional[str]) -> Optional[str]:
    """Where the evolutionary search keeps its state, or None."""
    if search_work_dir is None:
        return None
    from clamp_mm.search.checkpointing import STATE_FILE
    return osp.join(search_work_dir, STATE_FILE)


def fingerprint_from_cfg(cfg, work_dir: str) -> tuple:
    """This run's config fingerprint and search state file, from the merged
    config alone (what ``tools/quantize.py`` checks before the Runner).

    Returns:
        tuple[dict, str | None]: The fingerprint and the search state path.
    """
    from mmengine.registry import DefaultScope

    from clamp_mm.registry import CALIBRATORS, GENERATORS
    from .loop_config import QuantLoopConfig
    from .run_seed import configured_run_seed, seeded
    config = QuantLoopConfig.from_dict(cfg.get('test_cfg') or {})
    run_seed = configured_run_seed(cfg)
    with DefaultScope.overwrite_default_scope('clamp_mm'):
        generator = GENERATORS.build(seeded(dict(config.generator),
                                            run_seed))
        search, search_dir = None, None
        if config.calibrator is not None:
            calibrator_cfg = seeded(dict(config.calibrator), run_seed)
            search_dir = calibrator_cfg.get('work_dir') or osp.join(
                work_dir, 'search')
            calibrator = CALIBRATORS.build(dict(calibrator_cfg,
                                                work_dir=None))
            search = calibrator.config.fingerprint()
    fingerprint = config_fingerprint(
        config.recipe.to_dict(), generator.get_config(), search,
        config.num_images, config.resolution, config.quantized_module,
        cfg.get('load_from'), run_seed)
    return fingerprint, search_state_path(search_dir)


def begin_run_for(work_dir: str, recipe, generator, calibrator,
                  num_images: int, resolution,
                  run_identity: Optional[dict] = None) -> Optional[str]:
    """:func:`begin_run` for built components; returns the search state
    file (None without a search that keeps state)."""
    config = getattr(calibrator, 'config', None)
    state_file = search_state_path(getattr(config, 'work_dir', None))
    identity = dict(run_identity or {})
    begin_run(work_dir, config_fingerprint(
        recipe.to_dict(), generator.get_config() if generator else {},
        config.fingerprint() if config is not None else None, num_images,
        resolution, identity.get('quantized_module'),
        identity.get('checkpoint'), identity.get('run_seed')), state_file)
    return state_file
