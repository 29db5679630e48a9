"""Reconstruct one block: learn its weight rounding and steps by Adam.

The block's weight quantizers are swapped for soft-rounding stand-ins and
its uniform activation quantizers get learnable steps for the duration;
at the end everything is written back into the block's own quantizers
(hard rounding as a rounding offset, the learned steps as their scales), so
the block is an ordinary quantized block again.
"""
import math
import sys
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.utils import ProgressBar
from torch import nn

from clamp_mm.quant.modules import QuantConv2d, QuantLinear
from clamp_mm.quant.tensor_quantizer import TensorQuantizer
from clamp_mm.search.block_cache import run_block
from .activation_steps import (ActivationSteps, QuantizationDrop,
                               activation_quantizers, learnable_step)
from .block_data import BlockBatch
from .config import ReconstructionConfig
from .soft_rounding import SoftRoundingWeight


def reconstruction_loss(output: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
    """Squared error summed over channels (last axis), averaged over the
    rest (tokens, images)."""
    return (output - target).pow(2).sum(-1).mean()


def weight_layers(block: nn.Module) -> List[nn.Module]:
    """Layers of ``block`` whose weight quantizer is uniform, calibrated
    and quantizing."""
    return [
        module for module in block.modules()
        if isinstance(module, (QuantLinear, QuantConv2d))
        and isinstance(module.weight_quantizer, TensorQuantizer)
        and module.weight_quantizer.kind == 'uniform'
        and module.weight_quantizer.is_calibrated
        and module.weight_quantizer.mode == 'quantize'
    ]


@torch.no_grad()
def block_loss(block: nn.Module, batches: List[BlockBatch]) -> float:
    """Mean reconstruction loss of ``block`` over the batches."""
    losses = [float(reconstruction_loss(run_block(block, batch.inputs),
                                        batch.target)) for batch in batches]
    return sum(losses) / max(1, len(losses))


class BlockOptimiser:
    """The reconstruction of one block.

    Args:
        config (ReconstructionConfig): The settings.
        block (nn.Module): The quantized block (changed in place).
        batches (list[BlockBatch]): Its inputs and float targets.
        generator (torch.Generator): Draws the batches and QDrop masks.
        log (Callable[[str], None]): Receives a progress line every
            ``log_interval`` steps.
    """

    def __init__(self, config: ReconstructionConfig, block: nn.Module,
                 batches: List[BlockBatch], generator: torch.Generator,
                 log: Callable[[str], None]) -> None:
        self.config = config
        self.block = block
        self.batches = batches
        self.generator = generator
        self.log = log

    def _beta(self, step: int) -> Optional[float]:
        """The regulariser exponent at ``step``; None during the warm-up."""
        config = self.config
        start = int(config.warmup * config.iterations)
        if step < start:
            return None
        progress = (step - start) / max(1, config.iterations - start)
        return config.beta_start + (config.beta_end -
                                    config.beta_start) * progress

    def _swap_in(self) -> Tuple[List[Tuple[nn.Module, SoftRoundingWeight]],
                                ActivationSteps, QuantizationDrop]:
        config = self.config
        layers = weight_layers(self.block)
        weight_ids = {id(layer.weight_quantizer): layer for layer in layers}
        activations = [q for q in activation_quantizers(self.block,
                                                        weight_ids)
                       if q.mode == 'quantize']
        soft = []
        for layer in layers:
            stand_in = SoftRoundingWeight(layer.weight_quantizer,
                                          layer.weight, config.learn_rounding,
                                          config.learn_weight_scale)
            soft.append((layer, stand_in))
            layer.weight_quantizer = stand_in
        steps = ActivationSteps(
            [q for q in activations if learnable_step(q)],
            config.learn_activation_scale)
        drop = QuantizationDrop(activations, config.drop_prob,
                                self.generator)
        return soft, steps, drop

    def run(self) -> Dict[str, object]:
        """Reconstruct the block.

        Returns:
            dict: ``initial`` and ``final`` block loss (observers' solution
            and result, no QDrop, over all batches), ``last_soft`` (the
            loss of the last step, soft rounding and QDrop on),
            ``curve`` (``[step, reconstruction, regulariser]`` every
            ``log_interval`` steps), ``num_weights`` and
            ``num_learned_steps``.
        """
        config = self.config
        initial = block_loss(self.block, self.batches)
        # Only the quantization parameters learn: the float weights get no
        # gradient (and keep no .grad).
        frozen = [(p, p.requires_grad) for p in self.block.parameters()]
        for parameter, _ in frozen:
            parameter.requires_grad_(False)
        soft, steps, drop = self._swap_in()
        curve: List[List[float]] = []
        last = initial
        try:
            with torch.enable_grad():
                last = self._optimise(soft, steps, curve)
        finally:
            drop.remove()
            steps.commit()
            for layer, stand_in in soft:
                layer.weight_quantizer = stand_in.quantizer
                stand_in.commit(layer.weight)
            for parameter, requires_grad in frozen:
                parameter.requires_grad_(requires_grad)
        final = block_loss(self.block, self.batches)
        return dict(initial=initial, final=final, last_soft=last,
                    curve=curve,
                    num_weights=sum(layer.weight.numel()
                                    for layer, _ in soft),
                    num_learned_steps=len(steps.parameters()) + sum(
                        int(s.log_scale_ratio.requires_grad)
                        for _, s in soft))

    def _optimise(self, soft, steps: ActivationSteps,
                  curve: List[List[float]]) -> float:
        config = self.config
        rounding_params = [s.variable for _, s in soft
                           if isinstance(s.variable, nn.Parameter)]
        scale_params = steps.parameters() + [
            s.log_scale_ratio for _, s in soft
            if s.log_scale_ratio.requires_grad
        ]
        groups = []
        if rounding_params:
            groups.append(dict(params=rounding_params, lr=config.rounding_lr))
        if scale_params:
            groups.append(dict(params=scale_params, lr=config.scale_lr,
                               cosine=True))
        if not groups or config.iterations == 0:
            return float('nan')
        optimiser = torch.optim.Adam(
            [{k: v for k, v in g.items() if k != 'cosine'} for g in groups])
        cosine = [g.get('cosine', False) for g in groups]
        bar = (ProgressBar(config.iterations, file=sys.stdout)
               if config.progress_bar else None)
        rec = torch.zeros(())
        for step in range(config.iterations):
            for group, is_cosine in zip(optimiser.param_groups, cosine):
                if is_cosine:
                    group['lr'] = config.scale_lr * 0.5 * (
                        1 + math.cos(math.pi * step / config.iterations))
            index = int(torch.randint(len(self.batches), (1, ),
                                      generator=self.generator))
            batch = self.batches[index]
            steps.apply()
            output = run_block(self.block, batch.inputs)
            rec = reconstruction_loss(output, batch.target)
            beta = self._beta(step)
            reg = rec.new_zeros(())
            if beta is not None and config.rounding_weight > 0:
                reg = config.rounding_weight * sum(
                    (s.regulariser(beta) for _, s in soft), reg)
            optimiser.zero_grad(set_to_none=True)
            (rec + reg).backward()
            optimiser.step()
            if (step + 1) % config.log_interval == 0 or \
                    step + 1 == config.iterations:
                curve.append([step + 1, float(rec.detach()), float(reg.detach())])
                self.log(f'step {step + 1}/{config.iterations}: '
                         f'reconstruction {float(rec.detach()):.6f} rounding '
                         f'regulariser {float(reg.detach()):.4f}' +
                         ('' if beta is None else f' (beta {beta:.2f})'))
            if bar is not None:
                bar.update()
        if bar is not None:
            sys.stdout.write('\n')
        return float(rec.detach())
