"""What a block reconstruction returns, and what it writes to its work dir."""
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List

import torch

from clamp_mm.fileio import atomic_write_text

#: File of :meth:`ReconstructionResult.dump` in the work dir.
RESULT_FILE = 'reconstruction_result.json'


@dataclass
class ReconstructionResult:
    """Outcome of :meth:`BlockReconstructionCalibrator.calibrate`.

    Args:
        finished (bool): False when the run stopped early
            (``stop_after_blocks``); rerun to continue.
        blocks_done (int): Blocks reconstructed so far.
        total_blocks (int): Blocks of the whole reconstruction.
        block_losses (dict[str, dict]): Per block: ``initial`` (the
            observers' solution) and ``final`` block loss over all
            calibration images (hard rounding, no QDrop), ``last_soft``
            (the last step's loss), ``num_weights``, ``num_learned_steps``.
        curves (dict[str, list]): Per block, ``[step, reconstruction,
            regulariser]`` every ``log_interval`` steps.
        bits (dict[str, int]): Bit-width of every quantizer.
        metrics (dict[str, float]): avg_weight_bits, avg_activation_bits,
            size_mb, gbops (per image).
        times (dict[str, float]): Seconds: total, recording (block inputs
            and targets), optimising, refresh; within this run only.
        images (Tensor): The calibration images as the run left them.
    """
    finished: bool
    blocks_done: int
    total_blocks: int
    block_losses: Dict[str, dict]
    curves: Dict[str, List[List[float]]]
    bits: Dict[str, int]
    metrics: Dict[str, float]
    times: Dict[str, float]
    images: torch.Tensor = field(repr=False)

    def summary(self) -> dict:
        """Everything but the images, as plain JSON-able data."""
        return dict(kind='block_reconstruction', finished=self.finished,
                    blocks_done=self.blocks_done,
                    total_blocks=self.total_blocks,
                    block_losses=self.block_losses, curves=self.curves,
                    bits=self.bits, metrics=self.metrics, times=self.times)

    def dump(self, work_dir: str) -> str:
        """Write :meth:`summary` to ``work_dir/reconstruction_result.json``."""
        os.makedirs(work_dir, exist_ok=True)
        return atomic_write_text(json.dumps(self.summary(), indent=1),
                                 osp.join(work_dir, RESULT_FILE))
