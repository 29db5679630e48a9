"""Calibrators run one after the other on the same model.

``dict(type='clamp_mm.SequentialCalibrator', steps=[
dict(type='clamp_mm.BlockReconstructionCalibrator'),
dict(type='clamp_mm.EvolutionaryCalibrator', passes=2)])`` reconstructs the
blocks, then searches from the reconstructed solution; the order of
``steps`` is the order of the run. Each step keeps its state in its own
folder of the work dir (``0_BlockReconstructionCalibrator``, ...) and
resumes there; the images a step leaves (refreshed by a cyclic adaptation)
are the next step's.
"""
import os.path as osp
from dataclasses import dataclass, replace
from typing import List, Optional

import torch
from mmengine.registry import DefaultScope
from torch import nn

from clamp_mm.registry import CALIBRATORS


@dataclass
class SequenceConfig:
    """The settings of a :class:`SequentialCalibrator`.

    Args:
        steps (list): The built step calibrators, in run order.
        work_dir (str, optional): Parent of the steps' work dirs.
        resume (bool): Let the steps resume their saved state.
    """
    steps: list
    work_dir: Optional[str] = None
    resume: bool = True

    @property
    def mixed_precision(self):
        """The first step's mixed-precision config, if any searches bits."""
        for step in self.steps:
            mixed = getattr(step.config, 'mixed_precision', None)
            if mixed is not None:
                return mixed
        return None

    def fingerprint(self) -> dict:
        """Every step's type and fingerprint, in order."""
        return dict(steps=[
            dict(type=type(step).__name__, config=step.config.fingerprint())
            for step in self.steps
        ])

    def replace(self, **changes) -> 'SequenceConfig':
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass
class SequenceResult:
    """What a :class:`SequentialCalibrator` returns.

    Args:
        steps (list): Each step's result, in order.
    """
    steps: list

    @property
    def finished(self) -> bool:
        """Every step finished."""
        return all(step.finished for step in self.steps)

    @property
    def metrics(self) -> dict:
        """The last step's size, BOPs and mean bits."""
        return self.steps[-1].metrics

    @property
    def bits(self) -> dict:
        """The last step's bit-widths."""
        return self.steps[-1].bits

    @property
    def times(self) -> dict:
        """Seconds of every step, ``<index>_<name>`` prefixed, and the
        total."""
        times = {}
        for index, step in enumerate(self.steps):
            for key, value in step.times.items():
                times[f'{index}_{key}'] = value
        times['total'] = sum(step.times.get('total', 0.0)
                             for step in self.steps)
        return times

    @property
    def images(self) -> torch.Tensor:
        """The images as the last step left them."""
        return self.steps[-1].images

    def summary(self) -> dict:
        """Every step's summary; a search step's ``history`` and fitness
        come up to the top level, for the run report."""
        summary = dict(finished=self.finished, metrics=self.metrics,
                       times=self.times,
                       steps=[step.summary() for step in self.steps])
        for step in self.steps:
            own = step.summary()
            if 'history' in own:
                summary.update({k: v for k, v in own.items()
                                if k not in summary})
        return summary


@CALIBRATORS.register_module()
class SequentialCalibrator:
    """Run several calibrators on the model, in order.

    Args:
        steps (list[dict | object]): Calibrator configs (built from
            ``CALIBRATORS``) or instances, in run order; at least one.
        work_dir (str, optional): Each step's state goes to
            ``work_dir/<index>_<type>``. Defaults to None (none written).
        resume (bool): Let the steps resume. Defaults to True.
        seed (int, optional): Seed of every step whose config sets none.
            Defaults to None.
    """

    def __init__(self, steps: List, work_dir: Optional[str] = None,
                 resume: bool = True, seed: Optional[int] = None) -> None:
        if not isinstance(steps, (list, tuple)) or not steps:
            raise ValueError(f'steps must be a non-empty list of calibrator '
                             f'configs, got {steps!r}')
        built = []
        for step in steps:
            if isinstance(step, dict):
                step = dict(step)
                if seed is not None and step.get('seed') is None:
                    step['seed'] = seed
                step['work_dir'] = None
                with DefaultScope.overwrite_default_scope('clamp_mm'):
                    step = CALIBRATORS.build(step)
            if not hasattr(step, 'calibrate') or not hasattr(step, 'config'):
                raise ValueError(f'step {step!r} is not a calibrator (no '
                                 'calibrate method or config)')
            built.append(step)
        self.config = SequenceConfig(built, work_dir, resume)

    def calibrate(self, model: nn.Module, images: torch.Tensor,
                  refresh_fn=None, recipe=None) -> SequenceResult:
        """Run every step; the first one gets ``recipe``.

        Args:
            model (nn.Module): See the steps' ``calibrate``.
            images (Tensor): Normalised calibration images.
            refresh_fn (generator | Callable, optional): Handed to every
                step. Defaults to None.
            recipe (QuantRecipe | dict, optional): Handed to the first
                step. Defaults to None.

        Returns:
            SequenceResult: The steps' results.
        """
        results = []
        config = self.config
        for index, step in enumerate(config.steps):
            work_dir = None if config.work_dir is None else osp.join(
                config.work_dir, f'{index}_{type(step).__name__}')
            step.config = step.config.replace(work_dir=work_dir,
                                              resume=config.resume)
            result = step.calibrate(model, images, refresh_fn=refresh_fn,
                                    recipe=recipe if index == 0 else None)
            recipe = None
            results.append(result)
            images = result.images
        return SequenceResult(results)
