"""Checks run before a quantization run writes anything.

``tools/quantize.py`` calls :func:`preflight` before it builds the Runner
(which creates log folders in the work dir): a missing file, a bad recipe
value, an unknown ``clamp_mm`` type, a checkpoint of another architecture or
an unwritable work dir is reported as one :class:`QuantizeInputError`, and
the work dir keeps whatever earlier runs left there.
"""
import os
import os.path as osp
import tempfile
from typing import Optional

from mmengine.config import Config
from mmengine.registry import HOOKS, MODELS, DefaultScope

from clamp_mm.pipeline import QuantLoopConfig
from clamp_mm.pipeline.quantized_checkpoint import read_quantized
from clamp_mm.registry import CALIBRATORS, GENERATORS, LOOPS
from .checkpoint_check import check_checkpoint_fits

#: The loop type a quantization config must use.
LOOP_TYPE = 'clamp_mm.QuantTestLoop'
#: Locations the checkpoint check downloads instead of reading from disk.
REMOTE_PREFIXES = ('http://', 'https://', 's3://', 'torchvision://',
                   'open-mmlab://', 'modelzoo://', 'mmcls://', 'pavi://')


class QuantizeInputError(ValueError):
    """Bad input to a quantization run, described in one line."""


def _one_line(error: BaseException) -> str:
    text = str(error).strip().strip('"\'')
    return ' '.join(text.split()) or type(error).__name__


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URL-like location rather than a local file."""
    return path.startswith(REMOTE_PREFIXES)


def check_writable_dir(work_dir: str) -> None:
    """Create ``work_dir`` if needed and check that files can be written.

    Raises:
        QuantizeInputError: When it cannot be created or written to.
    """
    try:
        os.makedirs(work_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=work_dir, prefix='.probe'):
            pass
    except OSError as error:
        raise QuantizeInputError(
            f'work dir {work_dir} is not writable: '
            f'{error.strerror or _one_line(error)}') from None


def _build_checked(registry, cfg, what: str, scope: str):
    try:
        with DefaultScope.overwrite_default_scope(scope):
            return registry.build(cfg)
    except (KeyError, TypeError, ValueError) as error:
        raise QuantizeInputError(f'{what}: {_one_line(error)}') from None


def check_loop_cfg(cfg: Config) -> None:
    """Validate ``cfg.test_cfg`` as a QuantTestLoop config.

    Builds the recipe, generator and calibrator (cheap; no model needed) so
    a bad bit-width or an unknown ``clamp_mm`` type fails here.

    Raises:
        QuantizeInputError: Naming the bad field or type.
    """
    loop_cfg = cfg.get('test_cfg') or {}
    loop_type = loop_cfg.get('type')
    if loop_type not in (LOOP_TYPE, 'QuantTestLoop'):
        raise QuantizeInputError(
            f'test_cfg.type is {loop_type!r}, expected {LOOP_TYPE!r}: '
            'inherit a quantization base from configs/_base_/ (e.g. '
            'clamp_w4a8.py)')
    try:
        config = QuantLoopConfig.from_dict(loop_cfg)
    except ValueError as error:
        message = _one_line(error)
        separator = ' ' if message.startswith('has ') else '.'
        raise QuantizeInputError(f'test_cfg{separator}{message}') from None
    _build_checked(GENERATORS, config.generator, 'test_cfg.generator',
                   'clamp_mm')
    if config.calibrator is not None:
        _build_checked(CALIBRATORS, dict(config.calibrator, work_dir=None),
                       'test_cfg.calibrator', 'clamp_mm')
    scope = cfg.get('default_scope', 'mmengine')
    for hook in cfg.get('custom_hooks', None) or []:
        with DefaultScope.overwrite_default_scope(scope):
            found = HOOKS.get(hook.get('type')) if isinstance(
                hook.get('type'), str) else hook.get('type')
        if found is None:
            raise QuantizeInputError(
                f'custom_hooks: unknown hook type {hook.get("type")!r}')
    LOOPS.import_from_location()


def check_model_and_checkpoint(cfg: Config,
                               checkpoint: Optional[str],
                               load_quantized: Optional[str] = None,
                               work_dir: Optional[str] = None) -> None:
    """Build the float model, find its adapter, check the checkpoint fits,
    the recipe's overrides match, a quantized file fits, the disk has room.

    Raises:
        QuantizeInputError: Unknown model type, no adapter for the model,
            a checkpoint of another architecture, an override pattern that
            matches nothing, a quantized file that does not fit, too little
            space in ``work_dir``.
    """
    from .model_config import runner_model_config
    from .target_module import resolve_target
    scope = cfg.get('default_scope', 'mmengine')
    model = _build_checked(MODELS, runner_model_config(cfg), 'model', scope)
    try:
        resolve_target(model,
                       (cfg.get('test_cfg') or {}).get('quantized_module'))
    except TypeError as error:
        raise QuantizeInputError(_one_line(error)) from None
    if checkpoint is not None:
        try:
            check_checkpoint_fits(model, checkpoint)
        except ValueError as error:
            raise QuantizeInputError(_one_line(error)) from None
        except (OSError, RuntimeError) as error:  # unreadable, no network
            raise QuantizeInputError(f'cannot read checkpoint {checkpoint}: '
                                     f'{_one_line(error)}') from None
    from .model_checks import check_model_inputs
    try:
        check_model_inputs(model, cfg.get('test_cfg') or {}, load_quantized,
                           work_dir)
    except (ValueError, OSError) as error:
        raise QuantizeInputError(_one_line(error)) from None


def check_same_run(cfg: Config, work_dir: str) -> None:
    """Refuse a work dir whose search state belongs to a run with other
    settings, before the Runner copies the config there.

    Raises:
        QuantizeInputError: Naming what differs (see
            :mod:`clamp_mm.engine.run_state`).
    """
    from .run_state import check_run_state, fingerprint_from_cfg
    try:
        fingerprint, state_file = fingerprint_from_cfg(cfg, work_dir)
        check_run_state(work_dir, fingerprint, state_file)
    except ValueError as error:
        raise QuantizeInputError(_one_line(error)) from None


def preflight(cfg: Config,
              checkpoint: Optional[str],
              work_dir: str,
              load_quantized: Optional[str] = None,
              check_model: bool = True,
              restart: bool = False) -> None:
    """Every check of a quantization run that needs no Runner.

    Args:
        cfg (Config): The merged config.
        checkpoint (str, optional): Float checkpoint (file or URL).
        work_dir (str): Where the run will write.
        load_quantized (str, optional): Quantized checkpoint to restore.
            Defaults to None.
        check_model (bool): Build the model to check the adapter and the
            checkpoint's fit. Defaults to True.
        restart (bool): The run will discard the work dir's search state
            (``--restart``): skip the check that it belongs to this run.
            Defaults to False.

    Raises:
        QuantizeInputError: The first problem found, in one line.
    """
    if checkpoint is not None and not is_remote(checkpoint) and \
            not osp.isfile(checkpoint):
        raise QuantizeInputError(f'checkpoint {checkpoint} does not exist')
    if load_quantized is not None:
        try:
            read_quantized(load_quantized)
        except (FileNotFoundError, ValueError) as error:
            raise QuantizeInputError(_one_line(error)) from None
    elif checkpoint is None:
        raise QuantizeInputError(
            'no float weights: pass CHECKPOINT (or set load_from in the '
            'config, or --load-quantized)')
    check_loop_cfg(cfg)
    if load_quantized is None and not restart:
        check_same_run(cfg, work_dir)
    check_writable_dir(work_dir)
    if check_model:
        check_model_and_checkpoint(
            cfg, checkpoint if load_quantized is None else None,
            load_quantized, work_dir)
