"""One block reconstruction over a model's blocks, resumable per block.

:class:`ReconstructionRun` holds what one ``calibrate`` call needs (the
model, its float twin, the images) and walks the blocks in forward order:
record the block's inputs and float targets, optimise the block
(:class:`BlockOptimiser`), then write the state (every quantizer's buffers,
the random generators, the losses) so that a rerun continues with the next
block and ends with the same result.
"""
import copy
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.logging import MMLogger
from torch import nn

from clamp_mm.fileio import tensor_sha256
from clamp_mm.models.base import find_adapter
from clamp_mm.quant.tensor_quantizer import (TensorQuantizer,
                                             iter_quantizers, set_quant_mode)
from clamp_mm.search.calibrated_quantizers import calibrated_quantizers
from clamp_mm.search.checkpointing import (capture_rng_states, load_state,
                                           restore_rng_states, save_state)
from clamp_mm.search.image_refresh import refresh_images
from clamp_mm.search.mixed_precision import BitBudget
from .block_data import record_block_batches
from .block_optimiser import BlockOptimiser
from .config import ReconstructionConfig
from .result import ReconstructionResult

#: ``refresh(images, fp_model, quantized_model, iterations) -> images``.
RefreshFn = Callable[[torch.Tensor, nn.Module, nn.Module, int], torch.Tensor]


def quantizer_state(quantizer: TensorQuantizer) -> Dict[str, torch.Tensor]:
    """Every buffer of a quantizer (a learned rounding included), on CPU."""
    state = {name: value.detach().cpu().clone()
             for name, value in quantizer._buffers.items()
             if value is not None}
    return state


def restore_quantizer(quantizer: TensorQuantizer,
                      state: Dict[str, torch.Tensor]) -> None:
    """Inverse of :func:`quantizer_state`."""
    quantizer.set_rounding_offset(state.get('rounding_offset'))
    for name, value in state.items():
        if name != 'rounding_offset':
            getattr(quantizer, name).copy_(value)


class ReconstructionRun:
    """The reconstruction of one model; see
    :class:`BlockReconstructionCalibrator`.

    Args:
        config (ReconstructionConfig): The settings.
        model (nn.Module): A quantized model whose quantizers were
            calibrated (the observers' solution it starts from).
        images (Tensor): Normalised calibration images (N, 3, H, W).
        refresh_fn (RefreshFn, optional): Refreshes the images between
            blocks (``refresh_every_blocks``). Defaults to None.
    """

    def __init__(self, config: ReconstructionConfig, model: nn.Module,
                 images: torch.Tensor,
                 refresh_fn: Optional[RefreshFn] = None) -> None:
        self.config = config
        # Some backbones' train() returns None: do not chain eval().
        model.eval()
        self.model = model
        self.adapter = find_adapter(model)
        self.images = images.detach().clone()
        self.refresh_fn = refresh_fn
        self.logger = MMLogger.get_current_instance()
        self.generator = torch.Generator().manual_seed(config.seed)
        self.quantizers: Dict[str, TensorQuantizer] = calibrated_quantizers(
            model)
        set_quant_mode(model, 'quantize')
        self.start = dict(
            images_sha256=tensor_sha256(self.images),
            quantizers_sha256=tensor_sha256(torch.cat([
                q.scale.detach().float().reshape(-1).cpu()
                for q in self.quantizers.values()
            ])),
            bits={name: q.bits for name, q in self.quantizers.items()})
        self.fp_model = set_quant_mode(copy.deepcopy(model), 'off')
        self.fp_adapter = find_adapter(self.fp_model)
        self.blocks = self._blocks()
        self.fp_blocks = dict(self.fp_adapter.blocks())
        self.block_losses: Dict[str, dict] = {}
        self.curves: Dict[str, List[List[float]]] = {}
        self.times = dict(recording=0.0, optimising=0.0, refresh=0.0)
        self.next_block = 0

    def _blocks(self) -> List[Tuple[str, nn.Module]]:
        blocks = []
        for name, block in self.adapter.blocks():
            if any(q.is_calibrated for _, q in iter_quantizers(block)):
                blocks.append((name, block))
            else:
                self.logger.warning(f'block {name} has no calibrated '
                                    'quantizer; the reconstruction skips it')
        if not blocks:
            raise ValueError('no block of the model holds a calibrated '
                             'quantizer: nothing to reconstruct')
        return blocks

    def fingerprint(self) -> dict:
        """What a saved state must match to be resumed."""
        return dict(kind='block_reconstruction',
                    config=self.config.fingerprint(),
                    blocks=[name for name, _ in self.blocks],
                    quantizers=sorted(self.quantizers),
                    images_shape=list(self.images.shape), start=self.start)

    # ---- state -----------------------------------------------------------------
    def _save(self) -> None:
        if self.config.work_dir is None:
            return
        save_state(
            self.config.work_dir,
            dict(fingerprint=self.fingerprint(),
                 next_block=self.next_block,
                 images=self.images.cpu(),
                 quantizers={name: quantizer_state(q)
                             for name, q in self.quantizers.items()},
                 block_losses=self.block_losses, curves=self.curves,
                 rng=capture_rng_states(self.generator)))

    def _restore(self, state: dict) -> None:
        for name, saved in state['quantizers'].items():
            restore_quantizer(self.quantizers[name], saved)
        self.images = state['images'].to(self.images.device)
        self.block_losses = dict(state['block_losses'])
        self.curves = dict(state['curves'])
        self.next_block = int(state['next_block'])
        restore_rng_states(state['rng'], self.generator)
        self.logger.info(f'reconstruction resumed at block '
                         f'{self.next_block} from {self.config.work_dir}')

    # ---- one block -------------------------------------------------------------
    def _refresh_images(self) -> None:
        start = time.perf_counter()
        self.images = refresh_images(self.refresh_fn, self.images,
                                     self.fp_model, self.model,
                                     self.config.refresh_iterations)
        self.times['refresh'] += time.perf_counter() - start

    def _refresh_due(self, index: int) -> bool:
        every = self.config.refresh_every_blocks
        return (every > 0 and self.refresh_fn is not None and index > 0
                and index % every == 0)

    def reconstruct(self, index: int) -> None:
        """Reconstruct block ``index`` (of :attr:`blocks`)."""
        name, block = self.blocks[index]
        if self._refresh_due(index):
            self._refresh_images()
        start = time.perf_counter()
        batch_size = self.config.batch_size or len(self.images)
        batches = record_block_batches(
            self.images, batch_size, self.adapter.forward_images,
            self.fp_adapter.forward_images, block, self.fp_blocks[name],
            self.config.block_input == 'quantized')
        self.times['recording'] += time.perf_counter() - start
        start = time.perf_counter()
        prefix = (f'reconstruction block {name} '
                  f'({index + 1}/{len(self.blocks)})')
        outcome = BlockOptimiser(
            self.config, block, batches, self.generator,
            lambda line: self.logger.info(f'{prefix} {line}')).run()
        self.times['optimising'] += time.perf_counter() - start
        self.curves[name] = outcome.pop('curve')
        self.block_losses[name] = outcome
        self.logger.info(f'{prefix}: block loss {outcome["initial"]:.6f} '
                         f'-> {outcome["final"]:.6f}')

    # ---- the whole model -------------------------------------------------------
    def execute(self) -> ReconstructionResult:
        """Run (or continue) the reconstruction; return its result."""
        start = time.perf_counter()
        config = self.config
        state = (load_state(config.work_dir, self.fingerprint())
                 if config.resume else None)
        if state is not None:
            self._restore(state)
        while self.next_block < len(self.blocks):
            self.reconstruct(self.next_block)
            self.next_block += 1
            self._save()
            if (config.stop_after_blocks is not None
                    and self.next_block >= config.stop_after_blocks):
                break
        self.times['total'] = time.perf_counter() - start
        set_quant_mode(self.model, 'quantize')
        bits = {name: q.bits for name, q in self.quantizers.items()}
        budget = BitBudget.from_model(
            self.model, self.images[:1],
            lambda _, x: self.adapter.forward_images(x))
        return ReconstructionResult(
            finished=self.next_block >= len(self.blocks),
            blocks_done=self.next_block, total_blocks=len(self.blocks),
            block_losses=dict(self.block_losses), curves=dict(self.curves),
            bits=bits, metrics=budget.metrics(bits), times=dict(self.times),
            images=self.images)
