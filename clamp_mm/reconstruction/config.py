"""Typed configuration of the block reconstruction, validated on creation.

Defaults follow BRECQ / AdaRound / QDrop where they give a number; where the
budget of this project decides (iterations), the docstring line says so.
"""
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Optional

#: What a block is fed during its reconstruction.
BLOCK_INPUTS = ('quantized', 'fp')


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f'{name} must be an int >= {low}, got {value!r}')


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not value > 0:
        raise ValueError(f'{name} must be a number > 0, got {value!r}')


@dataclass
class ReconstructionConfig:
    """Hyper-parameters of :class:`BlockReconstructionCalibrator`.

    Each block, in forward order, gets ``iterations`` Adam steps on the
    squared error between its quantized output and the float block's output
    (summed over channels, averaged over tokens and images), plus the
    AdaRound regulariser ``rounding_weight * sum(1 - |2h - 1|^beta)`` once
    ``warmup`` of the steps are done, ``beta`` annealed linearly from
    ``beta_start`` to ``beta_end``. At the end of the block every weight is
    rounded hard (up where the soft rounding ``h >= 0.5``).

    Args:
        iterations (int): Adam steps per block (BRECQ: 20000; ours, for the
            cost target of <= 10 min on the project ViT with 1 thread,
            chosen on the validation split, docs/block_reconstruction.md).
            Defaults to 500.
        batch_size (int, optional): Images per step, and per forward when
            the block inputs are recorded (they are stored one batch at a
            time). Defaults to None: all calibration images.
        rounding_lr (float): Adam learning rate of the soft-rounding
            variables (BRECQ). Defaults to 1e-3.
        scale_lr (float): Adam learning rate of the log step-size ratios
            (LSQ-style steps, ``s = s0 * exp(r)``), cosine-annealed to 0.
            Defaults to 1e-3.
        learn_weight_scale (bool): Learn the weight step sizes together
            with the rounding (Genie-style: the codes stay
            ``floor(w / s0) + h``). Defaults to True.
        learn_activation_scale (bool): Learn the step sizes of the uniform
            activation quantizers of the block. Defaults to True.
        learn_rounding (bool): Learn the weight rounding (AdaRound); False
            keeps nearest rounding. Defaults to True.
        rounding_weight (float): ``lambda`` of the rounding regulariser
            (BRECQ). Defaults to 0.01.
        beta_start (float): Regulariser exponent at the end of the warm-up
            (AdaRound). Defaults to 20.
        beta_end (float): Regulariser exponent at the last step. Defaults
            to 2.
        warmup (float): Share of the steps without the regulariser
            (AdaRound). Defaults to 0.2.
        drop_prob (float): QDrop: probability that an activation value of
            the block skips its quantizer during the reconstruction steps
            (0 turns QDrop off; QDrop's paper uses 0.5). On the validation
            split 0.5 did not beat 0 (ViT W4/A4, real and CLAMP images)
            and cost 1.6x the time (docs/block_reconstruction.md).
            Defaults to 0.0.
        block_input (str): What a block is fed: ``'quantized'`` (the
            quantized model's own input, with the blocks before already
            reconstructed) or ``'fp'`` (the float block input). Defaults to
            ``'quantized'``.
        refresh_every_blocks (int): Cyclic adaptation: refresh the images
            with the generator before every such block (0: never).
            Defaults to 0.
        refresh_iterations (int): Generator iterations per refresh.
            Defaults to 10.
        seed (int): Seed of the reconstruction's own random generator
            (image batches, QDrop masks). Defaults to 0.
        work_dir (str, optional): Where state, losses and the loss plot
            go; needed to resume. Defaults to None (nothing written).
        resume (bool): Continue from the state in ``work_dir`` when there is
            one. Defaults to True.
        progress_bar (bool): Show an mmengine progress bar per block.
            Defaults to True.
        plots (bool): Write the loss plot to ``work_dir``. Defaults to True.
        log_interval (int): Steps between two recorded loss values (and
            log lines). Defaults to 50.

    Raises:
        ValueError: On a bad value, one line naming the field, the value
            and what is allowed.
    """
    iterations: int = 500
    batch_size: Optional[int] = None
    rounding_lr: float = 1e-3
    scale_lr: float = 1e-3
    learn_weight_scale: bool = True
    learn_activation_scale: bool = True
    learn_rounding: bool = True
    rounding_weight: float = 0.01
    beta_start: float = 20.0
    beta_end: float = 2.0
    warmup: float = 0.2
    drop_prob: float = 0.0
    block_input: str = 'quantized'
    refresh_every_blocks: int = 0
    refresh_iterations: int = 10
    seed: int = 0
    work_dir: Optional[str] = None
    resume: bool = True
    progress_bar: bool = True
    plots: bool = True
    log_interval: int = 50
    # Not a hyper-parameter: stop after this many blocks (tests and
    # time-boxed jobs; the state written lets a rerun continue).
    stop_after_blocks: Optional[int] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check_int('iterations', self.iterations, 0)
        if self.batch_size is not None:
            _check_int('batch_size', self.batch_size, 1)
        for name in ('rounding_lr', 'scale_lr', 'beta_start', 'beta_end'):
            _check_positive(name, getattr(self, name))
        if isinstance(self.rounding_weight, bool) or not isinstance(
                self.rounding_weight, (int, float)) or \
                self.rounding_weight < 0:
            raise ValueError(f'rounding_weight must be a number >= 0, got '
                             f'{self.rounding_weight!r}')
        for name in ('warmup', 'drop_prob'):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(
                    value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {value!r}')
        if self.block_input not in BLOCK_INPUTS:
            raise ValueError(f'block_input must be one of {BLOCK_INPUTS}, '
                             f'got {self.block_input!r}')
        _check_int('refresh_every_blocks', self.refresh_every_blocks, 0)
        _check_int('refresh_iterations', self.refresh_iterations, 0)
        _check_int('log_interval', self.log_interval, 1)
        if self.stop_after_blocks is not None:
            _check_int('stop_after_blocks', self.stop_after_blocks, 1)

    @classmethod
    def from_fields(cls, **values) -> 'ReconstructionConfig':
        """Build from keyword arguments; an unknown one is a one-line
        error naming it and the known fields."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f'BlockReconstructionCalibrator has unknown '
                             f'field(s) {unknown}; expected some of '
                             f'{sorted(known)}')
        return cls(**values)

    @classmethod
    def fast(cls, **overrides) -> 'ReconstructionConfig':
        """A tiny reconstruction for CPU tests and smoke runs: 20 steps,
        no progress bar, no plots."""
        preset = dict(iterations=20, progress_bar=False, plots=False,
                      log_interval=5)
        preset.update(overrides)
        return cls.from_fields(**preset)

    def fingerprint(self) -> dict:
        """The fields that decide the result (for safe resuming)."""
        ignored = {'work_dir', 'resume', 'progress_bar', 'plots',
                   'stop_after_blocks', 'log_interval'}
        return {k: v for k, v in asdict(self).items() if k not in ignored}

    def replace(self, **changes) -> 'ReconstructionConfig':
        """A copy with some fields changed."""
        return replace(self, **changes)
