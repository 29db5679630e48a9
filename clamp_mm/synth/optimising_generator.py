"""Shared optimisation loop of the generators that learn their pixels.

Start from Gaussian noise in normalised input space, then minimise a loss of
the frozen model's response with Adam, a warm-up plus cosine learning-rate
schedule, random roll jitter and flips, and a total-variation prior
(method.md sections 2 and 5). Subclasses only say which loss terms to add.
"""
import math
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.logging import MMLogger
from mmengine.utils import ProgressBar

from clamp_mm.models.base import ModelAdapter
from clamp_mm.models.image_check import check_resolution
from .augment import random_horizontal_flip, random_roll
from .budget import DEFAULT_REFRESH_ITERATIONS, scaled_warmup
from .base_generator import (BaseGenerator, ModelLike, Resolution, as_adapter,
                             frozen, model_device, model_family,
                             resolve_resolution, split_into_batches)
from .losses import total_variation
from .taps import TokenGridCollector

#: Learning-rate schedules an optimising generator knows.
LR_SCHEDULES = ('cosine', 'constant')


class NonFiniteLossError(FloatingPointError):
    """The generation loss became NaN or infinite; generation stopped.

    Attributes:
        images (Tensor): The last finite images: every batch finished so
            far, then the current batch as it was before the failing step.
        iteration (int): The failing step (0-based) within its round.
        terms (dict[str, float]): Value of each loss term at that step.
    """

    def __init__(self, message: str, images: torch.Tensor, iteration: int,
                 terms: Dict[str, float]) -> None:
        super().__init__(message)
        self.images = images
        self.iteration = iteration
        self.terms = terms


@dataclass
class LossInputs:
    """What a loss term may look at during one optimisation step.

    Args:
        images (Tensor): The optimised images (un-augmented).
        output: FP ``forward_images`` output on the augmented images.
        grids (list[Tensor]): FP token grids, when the generator asked for
            them (``needs_token_grids``), else empty.
        quantized_output: Quantized model's output on the same view, or None
            when there is no quantized model.
        targets (Tensor, optional): Random labels of the batch, or None.
        has_head (bool): Whether ``output`` holds class logits.
    """
    images: torch.Tensor
    output: object
    grids: List[torch.Tensor]
    quantized_output: object
    targets: Optional[torch.Tensor]
    has_head: bool


class ColourSpace:
    """What an optimising generator optimises, and how it maps to images.

    In colour mode the variables are the normalised images themselves.
    In grey mode they are one channel ``u`` in units of the channel-mean
    normalisation, ``u = (v - mean(m)) / mean(s)`` for a grey level ``v`` on
    the 0..255 scale, and channel ``c`` of the image is
    ``(v - m_c) / s_c``: every image is a grey image of the model's input
    space, whatever its per-channel mean and std.

    Args:
        adapter (ModelAdapter): Supplies the normalisation.
        grayscale (bool): Grey mode.
        device (torch.device): Where the images live.
    """

    def __init__(self, adapter: ModelAdapter, grayscale: bool,
                 device: torch.device) -> None:
        self.grayscale = grayscale
        mean, std = (torch.tensor(values, dtype=torch.float32).view(
            1, -1, 1, 1) for values in adapter.mean_std)
        if grayscale:
            # image_c = u * scale_c + shift_c; u normalised by the means.
            self.scale = (std.mean() / std).to(device)
            self.shift = ((mean.mean() - mean) / std).to(device)
            mean, std = mean.mean(), std.mean()
        self.low = ((0 - mean) / std).to(device)
        self.high = ((255 - mean) / std).to(device)

    @property
    def num_variables(self) -> int:
        """Channels of the optimised tensor: 1 in grey mode, else 3."""
        return 1 if self.grayscale else 3

    def images(self, variables: torch.Tensor) -> torch.Tensor:
        """Normalised images (N, 3, H, W) of ``variables`` (differentiable)."""
        if not self.grayscale:
            return variables
        return variables * self.scale + self.shift

    def variables(self, images: torch.Tensor) -> torch.Tensor:
        """A fresh tensor of variables for ``images`` (the grey mode keeps
        the channel mean: exact for grey images)."""
        if not self.grayscale:
            return images.detach().clone()
        return ((images.detach() - self.shift) / self.scale).mean(
            1, keepdim=True)

    def clamp_(self, variables: torch.Tensor) -> None:
        """Keep ``variables`` within the images of [0, 255], in place."""
        with torch.no_grad():
            variables.copy_(torch.maximum(torch.minimum(variables, self.high),
                                          self.low))


@dataclass
class OptimisingGenerator(BaseGenerator):
    """Base of the generators that optimise pixels by gradient descent.

    Args:
        iterations (int): Adam steps per round. Defaults to 500.
        num_rounds (int): Rounds of ``iterations`` steps; subclasses act
            between rounds (PSAQ-ViT v1 changes the jitter, v2 re-calibrates
            the quantized model). Defaults to 1.
        lr (float): Peak learning rate. Defaults to 0.2.
        swin_lr (float): Peak learning rate for Swin families.
            Defaults to 0.25.
        betas (tuple[float, float]): Adam betas. Defaults to (0.5, 0.9).
        lr_schedule (str): ``'cosine'`` (linear warm-up, then cosine decay
            to zero over each round) or ``'constant'``.
            Defaults to ``'cosine'``.
        warmup_iterations (int): Linear warm-up steps of the cosine
            schedule. Defaults to 100.
        tv_weight (float): Weight of the total-variation prior.
            Defaults to 0.05.
        jitter (int): Largest random roll in pixels. Defaults to 15.
        flip (bool): Random horizontal flips. Defaults to True.
        clamp_pixels (bool): Keep pixels within the normalised image of
            [0, 255] after each step. Defaults to True.
        grayscale (bool): Optimise one grey level per pixel shared by the
            three channels, for models trained on grey images served as 3
            identical channels (the Fashion-MNIST classifiers): the images
            then stay in the colour space the model was trained on instead
            of using colour combinations it never saw. Defaults to False.
        log_interval (int): Steps between MMLogger lines. Defaults to 50.
    """

    iterations: int = 500
    num_rounds: int = 1
    lr: float = 0.2
    swin_lr: float = 0.25
    betas: Tuple[float, float] = (0.5, 0.9)
    lr_schedule: str = 'cosine'
    warmup_iterations: int = 100
    tv_weight: float = 0.05
    jitter: int = 15
    flip: bool = True
    clamp_pixels: bool = True
    grayscale: bool = False
    log_interval: int = 50

    #: Whether the loss needs the FP token grids (hooks are then installed).
    needs_token_grids = False
    #: Whether the loss uses random target labels (classifiers only).
    uses_random_labels = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.iterations < 1 or self.num_rounds < 1:
            raise ValueError(f'iterations={self.iterations} and num_rounds='
                             f'{self.num_rounds} must both be >= 1')
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f'lr_schedule={self.lr_schedule!r} is unknown, '
                             f'expected one of {LR_SCHEDULES}')
        if self.warmup_iterations < 0 or self.jitter < 0:
            raise ValueError(f'warmup_iterations={self.warmup_iterations} '
                             f'and jitter={self.jitter} must be >= 0')

    # ---- what subclasses define ---------------------------------------------
    def loss_terms(self, inputs: LossInputs) -> Dict[str, torch.Tensor]:
        """Weighted loss terms of one step (total variation is added here).

        Args:
            inputs (LossInputs): Model responses of this step.

        Returns:
            dict[str, Tensor]: Scalar terms, already multiplied by their
            weights; their sum is minimised.
        """
        raise NotImplementedError

    def jitter_of_round(self, round_index: int) -> int:
        """Largest roll in round ``round_index``. Defaults to ``jitter``."""
        return self.jitter

    def after_round(self, round_index: int, images: torch.Tensor,
                    adapter: ModelAdapter,
                    quantized_adapter: Optional[ModelAdapter]) -> None:
        """Hook run after each round on all images; nothing by default."""

    def uses_quantized_model(self, quantized_adapter) -> bool:
        """Whether the quantized model is run at each step."""
        return False

    # ---- the public interface -----------------------------------------------
    def generate(self,
                 model: ModelLike,
                 num_images: int,
                 resolution: Optional[Resolution] = None,
                 quantized_model: Optional[ModelLike] = None) -> torch.Tensor:
        adapter = as_adapter(model)
        quantized_adapter = as_adapter(quantized_model)
        height, width = resolution_hw = resolve_resolution(adapter, resolution)
        split_into_batches(num_images, self.batch_size)  # checks the count
        check_resolution(adapter, resolution_hw)
        random = torch.Generator().manual_seed(self.seed)
        device = model_device(adapter)
        colour = ColourSpace(adapter, self.grayscale, device)
        batches = [
            colour.images(
                torch.randn(size, colour.num_variables, height, width,
                            generator=random).to(device))
            for size in split_into_batches(num_images, self.batch_size)
        ]
        targets = self._draw_targets(adapter, batches, resolution_hw, random)
        self.targets = (torch.cat(targets).cpu()
                        if targets[0] is not None else None)
        return self._optimise_all(batches, targets, adapter,
                                  quantized_adapter, self.iterations,
                                  self.num_rounds, self.warmup_iterations,
                                  random)

    def refresh(self,
                images: torch.Tensor,
                model: ModelLike,
                quantized_model: Optional[ModelLike] = None,
                iterations: int = DEFAULT_REFRESH_ITERATIONS) -> torch.Tensor:
        """Continue optimising ``images``, adaptive term included.

        The labels are the FP model's current predictions (the images keep
        the class they already show); the warm-up keeps its share of the
        steps (:func:`clamp_mm.synth.budget.scaled_warmup`). One round, and no
        :meth:`after_round` hook: the quantized model belongs to the caller
        (the search's scales must not be re-calibrated behind its back).
        """
        if iterations < 1:
            raise ValueError(f'iterations={iterations} is invalid, expected '
                             '>= 1')
        adapter = as_adapter(model)
        quantized_adapter = as_adapter(quantized_model)
        random = torch.Generator().manual_seed(self.seed + 1)
        batches = list(images.detach().to(model_device(adapter)).clone().split(
            self.batch_size))
        targets = [None] * len(batches)
        if self.uses_random_labels and adapter.has_head:
            with frozen(adapter.model), torch.no_grad():
                targets = [
                    adapter.forward_images(batch).argmax(-1)
                    for batch in batches
                ]
        warmup = scaled_warmup(self.warmup_iterations, iterations,
                               self.iterations)
        return self._optimise_all(batches, targets, adapter,
                                  quantized_adapter, iterations, 1, warmup,
                                  random, run_after_round=False)

    # ---- the loop -----------------------------------------------------------
    def _draw_targets(self, adapter, batches, resolution_hw, random):
        if not (self.uses_random_labels and adapter.has_head):
            return [None] * len(batches)
        device = batches[0].device
        with frozen(adapter.model), torch.no_grad():
            probe = adapter.forward_images(
                torch.zeros(1, 3, *resolution_hw, device=device))
        num_classes = probe.shape[-1]
        return [
            torch.randint(num_classes, (len(batch), ),
                          generator=random).to(device) for batch in batches
        ]

    def peak_lr(self, adapter: ModelAdapter) -> float:
        """``swin_lr`` for Swin families, else ``lr``."""
        return self.swin_lr if 'swin' in model_family(adapter) else self.lr

    def _lr_factor(self, step: int, iterations: int, warmup: int) -> float:
        if self.lr_schedule == 'constant':
            return 1.0
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, iterations - warmup)
        return 0.5 * (1 + math.cos(math.pi * progress))

    def _optimise_all(self, batches: List[torch.Tensor],
                      targets: Sequence[Optional[torch.Tensor]],
                      adapter: ModelAdapter,
                      quantized_adapter: Optional[ModelAdapter],
                      iterations: int, num_rounds: int, warmup: int,
                      random: torch.Generator,
                      run_after_round: bool = True) -> torch.Tensor:
        self.loss_log = []
        self.last_good_images = torch.cat(batches)
        bar = (ProgressBar(num_rounds * len(batches) * iterations,
                           file=sys.stdout) if self.progress else None)
        quantized_model = (quantized_adapter.model
                           if quantized_adapter is not None else None)
        with frozen(adapter.model, quantized_model):
            for round_index in range(num_rounds):
                for batch_index in range(len(batches)):
                    batches[batch_index] = self._optimise_batch(
                        batches, batch_index, targets[batch_index], adapter,
                        quantized_adapter, iterations, warmup, round_index,
                        random, bar)
                self.last_good_images = torch.cat(batches)
                if run_after_round:
                    self.after_round(round_index, self.last_good_images,
                                     adapter, quantized_adapter)
        if bar is not None:
            sys.stdout.write('\n')
        return self.last_good_images

    def _optimise_batch(self, batches, batch_index, targets, adapter,
                        quantized_adapter, iterations, warmup, round_index,
                        random, bar) -> torch.Tensor:
        logger = MMLogger.get_current_instance()
        colour = ColourSpace(adapter, self.grayscale, batches[0].device)
        variables = colour.variables(batches[batch_index]).requires_grad_(True)
        peak_lr = self.peak_lr(adapter)
        optimizer = torch.optim.Adam([variables], lr=peak_lr,
                                     betas=self.betas)
        jitter = self.jitter_of_round(round_index)
        run_quantized = (quantized_adapter is not None
                         and self.uses_quantized_model(quantized_adapter))
        collector = (TokenGridCollector(adapter)
                     if self.needs_token_grids else None)
        for step in range(iterations):
            started = time.perf_counter()
            lr = peak_lr * self._lr_factor(step, iterations, warmup)
            for group in optimizer.param_groups:
                group['lr'] = lr
            pixels = colour.images(variables)
            view = random_roll(pixels, jitter, random)
            if self.flip:
                view = random_horizontal_flip(view, generator=random)
            if collector is not None:
                with collector:
                    output = adapter.forward_images(view)
                grids = collector.grids
            else:
                output, grids = adapter.forward_images(view), []
            quantized_output = (quantized_adapter.forward_images(view)
                                if run_quantized else None)
            terms = self.loss_terms(
                LossInputs(pixels, output, grids, quantized_output, targets,
                           adapter.has_head))
            # Drop every reference to the activations before backward: the
            # token grids alone would otherwise stay alive through the whole
            # backward pass (~8 % more peak memory on Swin-T at 512x512).
            del view, output, grids, quantized_output
            if collector is not None:
                collector.clear()
            if self.tv_weight:
                terms['total_variation'] = (
                    self.tv_weight * total_variation(pixels))
            total = torch.stack(list(terms.values())).sum()
            values = {name: term.item() for name, term in terms.items()}
            values['total'] = total.item()
            if not math.isfinite(values['total']):
                self._stop(batches, batch_index, pixels, step, round_index,
                           values)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            # A finite loss can still have an infinite gradient; checked
            # before the step, so the pixels stay the last good ones without
            # keeping a copy of them.
            if not bool(torch.isfinite(variables.grad).all()):
                values['gradient'] = math.nan
                self._stop(batches, batch_index, pixels, step, round_index,
                           values)
            optimizer.step()
            if self.clamp_pixels:
                colour.clamp_(variables)
            self.loss_log.append(
                dict(batch=batch_index, round=round_index, iteration=step,
                     lr=lr, seconds=time.perf_counter() - started, **values))
            if self.log_interval and (step % self.log_interval == 0
                                      or step == iterations - 1):
                logger.info(
                    f'{type(self).__name__} round {round_index + 1} batch '
                    f'{batch_index + 1}/{len(batches)} iteration '
                    f'{step + 1}/{iterations} lr {lr:.4g} ' + ' '.join(
                        f'{name}={value:.4f}'
                        for name, value in values.items()))
            if bar is not None:
                bar.update()
        return colour.images(variables).detach()

    def _stop(self, batches, batch_index, pixels, step, round_index,
              values) -> None:
        kept = list(batches)
        kept[batch_index] = pixels.detach().clone()
        self.last_good_images = torch.cat(kept)
        described = ', '.join(f'{name}={value}'
                              for name, value in values.items())
        raise NonFiniteLossError(
            f'{type(self).__name__}: the loss is not finite at iteration '
            f'{step} of round {round_index + 1}, batch {batch_index + 1}/'
            f'{len(batches)} ({described}); generation stopped. The last '
            f'finite images ({len(self.last_good_images)}) are in '
            'error.images and generator.last_good_images. Lower lr '
            f'(now {self.lr}) or check the model for NaN outputs.',
            self.last_good_images, step, values)
