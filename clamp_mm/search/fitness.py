"""The local contrastive fitness of the evolutionary search.

A candidate's quantization parameters are scored on one block only: the
block's quantized output tokens are compared with its full-precision (FP)
output tokens by an InfoNCE whose positive for quantized token ``i`` is FP
token ``i`` and whose negatives are the FP tokens in the ``k x k`` grid
neighbourhood of ``i`` (method.md section 3). Lower is better.

The neighbourhood is gathered with ``unfold``, so time and memory grow with
``k^2 x tokens``, never with ``tokens^2``.
"""
import time
from typing import Callable, Dict, Optional, Sequence, Union

import torch
import torch.nn.functional as F

from .block_cache import first_tensor
from .fitness_terms import get_fitness, output_divergence, token_terms

ModelOutput = Union[torch.Tensor, Sequence[torch.Tensor]]


class NeighbourhoodInfoNCE:
    """InfoNCE of quantized tokens against FP tokens in their neighbourhood.

    For token ``i`` with quantized feature ``q_i`` and FP features ``f_j``
    (all unit-normalised), with ``N(i)`` the ``k x k`` window around ``i``
    clipped at the grid border (``i`` itself included)::

        l_i = -log( exp(q_i . f_i / t) / sum_{j in N(i)} exp(q_i . f_j / t) )

    The FP side is fixed during a block's search, so its normalised,
    unfolded neighbourhoods are computed once here and every candidate pays
    only for its own tokens.

    Args:
        fp_grid (Tensor): FP block output, (B, H, W, D).
        kernel_size (int): Odd side ``k`` of the neighbourhood window.
            Defaults to 3.
        temperature (float): Temperature ``t``. Defaults to 0.2.
    """

    def __init__(self, fp_grid: torch.Tensor, kernel_size: int = 3,
                 temperature: float = 0.2) -> None:
        if fp_grid.dim() != 4:
            raise ValueError(f'expected a (B, H, W, D) grid, got shape '
                             f'{tuple(fp_grid.shape)}')
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be an odd number >= 1, '
                             f'got {kernel_size}')
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        self.shape = tuple(fp_grid.shape)
        self.temperature = temperature
        batch, height, width, dim = fp_grid.shape
        padding = kernel_size // 2
        self.window = kernel_size * kernel_size
        fp = F.normalize(fp_grid.detach().float(), dim=-1)
        # (B, D, k^2, H * W): column t holds the k x k FP neighbours of t.
        self.neighbours = F.unfold(fp.permute(0, 3, 1, 2), kernel_size,
                                   padding=padding).view(
                                       batch, dim, self.window,
                                       height * width)
        # Zero padding outside the grid is not a token: mask it out.
        self.outside = F.unfold(
            fp.new_ones(1, 1, height, width), kernel_size,
            padding=padding).view(1, self.window, height * width) == 0

    def __call__(self, quantized_grid: torch.Tensor) -> torch.Tensor:
        """Mean of ``l_i`` over the batch and tokens (a scalar tensor)."""
        if tuple(quantized_grid.shape) != self.shape:
            raise ValueError(f'expected a quantized grid of the FP grid\'s '
                             f'(same) shape {self.shape}, got '
                             f'{tuple(quantized_grid.shape)}')
        batch, height, width, dim = self.shape
        quantized = F.normalize(quantized_grid.float(), dim=-1)
        quantized = quantized.reshape(batch, height * width, dim)
        logits = torch.einsum('bdkt,btd->bkt', self.neighbours, quantized)
        logits = logits.div_(self.temperature).masked_fill_(
            self.outside, float('-inf'))
        centre = self.window // 2
        return (torch.logsumexp(logits, dim=1) - logits[:, centre]).mean()


def neighbourhood_info_nce(quantized_grid: torch.Tensor,
                           fp_grid: torch.Tensor,
                           kernel_size: int = 3,
                           temperature: float = 0.2) -> torch.Tensor:
    """One-shot :class:`NeighbourhoodInfoNCE`.

    Args:
        quantized_grid (Tensor): Quantized block output, (B, H, W, D).
        fp_grid (Tensor): FP block output on the same input, (B, H, W, D).
        kernel_size (int): Odd neighbourhood side. Defaults to 3.
        temperature (float): Temperature. Defaults to 0.2.

    Returns:
        Tensor: Scalar, the mean loss over the batch and tokens.
    """
    if quantized_grid.shape != fp_grid.shape:
        raise ValueError('expected two (B, H, W, D) grids of the same shape, '
                         f'got {tuple(quantized_grid.shape)} and '
                         f'{tuple(fp_grid.shape)}')
    return NeighbourhoodInfoNCE(fp_grid, kernel_size,
                                temperature)(quantized_grid)


def output_mae(quantized_output: ModelOutput,
               fp_output: ModelOutput) -> torch.Tensor:
    """Mean absolute error between the quantized and FP model outputs.

    Args:
        quantized_output (Tensor | Sequence[Tensor]): Logits, or the
            backbone's feature maps for models without a head.
        fp_output (Tensor | Sequence[Tensor]): The FP model's output, same
            structure.

    Returns:
        Tensor: Scalar; for several feature maps the mean of their MAEs.
    """
    if isinstance(quantized_output, torch.Tensor):
        return (quantized_output.float() - fp_output.float()).abs().mean()
    if len(quantized_output) != len(fp_output):
        raise ValueError(f'outputs differ in length: '
                         f'{len(quantized_output)} vs {len(fp_output)}')
    errors = [output_mae(q, f) for q, f in zip(quantized_output, fp_output)]
    return torch.stack(errors).mean()


def local_fitness(quantized_grid: torch.Tensor,
                  fp_grid: torch.Tensor,
                  model_output_mae: float,
                  kernel_size: int = 3,
                  temperature: float = 0.2,
                  output_mae_weight: float = 1.0) -> float:
    """The fitness of one candidate: InfoNCE + ``lambda`` x model MAE.

    Args:
        quantized_grid (Tensor): Quantized block output, (B, H, W, D).
        fp_grid (Tensor): FP block output, (B, H, W, D).
        model_output_mae (float): MAE of the quantized model's output
            against the FP output, refreshed once per block visit (not per
            candidate, so a candidate costs one block).
        kernel_size (int): Neighbourhood side. Defaults to 3.
        temperature (float): InfoNCE temperature. Defaults to 0.2.
        output_mae_weight (float): ``lambda``. Defaults to 1.0.

    Returns:
        float: The fitness; lower is better.
    """
    contrastive = neighbourhood_info_nce(quantized_grid, fp_grid,
                                         kernel_size, temperature)
    return float(contrastive) + output_mae_weight * float(model_output_mae)


class BlockScorer:
    """Scores candidates of one block by running that block alone.

    Args:
        block (nn.Module): The (quantized) block.
        to_grid (Callable): ``(output, args, kwargs) -> (B, H, W, D)``, the
            adapter's ``block_output_grid`` for this block.
        write_genome (Callable): Puts a candidate into the block's
            quantizers.
        inputs (BlockIO): What the block is fed (FP or quantized input).
        fp_grid (Tensor): The FP block's output tokens, (B, H, W, D).
        model_output_mae (float): The model-output MAE term of this visit.
        kernel_size (int): Neighbourhood side. Defaults to 3.
        temperature (float): InfoNCE temperature. Defaults to 0.2.
        output_mae_weight (float): ``lambda``. Defaults to 1.0.
        times (dict, optional): Its ``'block_forward'`` entry accumulates
            the seconds spent in the block's forward alone (the unit cost
            the search is measured against). Defaults to None.
        fitness (str): A name of
            :data:`~clamp_mm.search.fitness_terms.FITNESSES`. Defaults to
            ``'info_nce'``.
        rest_of_network (Callable, optional): ``block output -> model
            output`` (a :class:`~clamp_mm.search.rest_of_network.RestOfNetwork`);
            needed by fitnesses with an output term. Defaults to None.
        fp_model_output (Tensor | Sequence[Tensor], optional): The FP model
            output on the batch, for the output term. Defaults to None.
    """

    def __init__(self, block, to_grid, write_genome, inputs, fp_grid,
                 model_output_mae: float, kernel_size: int = 3,
                 temperature: float = 0.2, output_mae_weight: float = 1.0,
                 times: Optional[dict] = None, fitness: str = 'info_nce',
                 rest_of_network: Optional[Callable] = None,
                 fp_model_output: Optional[ModelOutput] = None) -> None:
        self.block = block
        self.to_grid = to_grid
        self.write_genome = write_genome
        self.inputs = inputs
        self.fp_grid = fp_grid
        self.contrastive = NeighbourhoodInfoNCE(fp_grid, kernel_size,
                                                temperature)
        self.model_output_mae = float(model_output_mae)
        self.output_mae_weight = output_mae_weight
        self.fitness = get_fitness(fitness)
        self.rest_of_network = rest_of_network
        self.fp_model_output = fp_model_output
        if self.fitness.needs_output and (rest_of_network is None
                                          or fp_model_output is None):
            raise ValueError(f'fitness {fitness!r} needs rest_of_network and '
                             'fp_model_output (a per-candidate output term)')
        self.times = times if times is not None else {}
        self.times.setdefault('block_forward', 0.0)
        self.times.setdefault('rest_of_network', 0.0)
        #: Candidates scored so far.
        self.num_scored = 0

    @torch.no_grad()
    def _block_output(self):
        start = time.perf_counter()
        output = self.block(*self.inputs.args, **self.inputs.kwargs)
        self.times['block_forward'] += time.perf_counter() - start
        return output

    @torch.no_grad()
    def quantized_grid(self) -> torch.Tensor:
        """The block's output tokens with its quantizers as they are now."""
        output = first_tensor(self._block_output())
        return self.to_grid(output, self.inputs.args, self.inputs.kwargs)

    @torch.no_grad()
    def terms(self, genome, with_output: Optional[bool] = None
              ) -> Dict[str, float]:
        """Every term of ``genome`` (written into the block, left there).

        Args:
            genome (Genome): The candidate.
            with_output (bool, optional): Also compute ``output_kl``
                (runs the rest of the network). Defaults to None: when the
                fitness needs it.

        Returns:
            dict[str, float]: ``info_nce``, ``mse``, ``cosine``,
            ``visit_output_mae`` and, when asked, ``output_kl``.
        """
        if with_output is None:
            with_output = self.fitness.needs_output
        self.write_genome(genome)
        output = self._block_output()
        grid = self.to_grid(first_tensor(output), self.inputs.args,
                            self.inputs.kwargs)
        terms = dict(info_nce=float(self.contrastive(grid)),
                     visit_output_mae=self.model_output_mae)
        terms.update(token_terms(grid, self.fp_grid))
        if with_output:
            start = time.perf_counter()
            model_output = self.rest_of_network(output)
            terms['output_kl'] = output_divergence(model_output,
                                                   self.fp_model_output)
            self.times['rest_of_network'] += time.perf_counter() - start
        return terms

    def __call__(self, genome) -> float:
        """Fitness of ``genome`` (written into the block, left there)."""
        self.num_scored += 1
        if self.fitness.name == 'info_nce':
            # The original fitness alone: skip the other terms' cost.
            self.write_genome(genome)
            contrastive = float(self.contrastive(self.quantized_grid()))
            return contrastive + self.output_mae_weight * self.model_output_mae
        return self.fitness.combine(self.terms(genome),
                                    self.output_mae_weight)
