"""The selectable fitnesses of the search, as combinations of named terms.

A candidate is measured by a few terms (all lower-is-better):

- ``info_nce``: the local neighbourhood InfoNCE of the block's output tokens
  against the FP block's (:class:`~clamp_mm.search.fitness.NeighbourhoodInfoNCE`),
- ``mse``: mean squared error of the block's output tokens against FP,
  divided by the FP tokens' mean square (magnitude-aware, scale-free),
- ``cosine``: ``1 - `` mean cosine of each output token with its FP token,
- ``visit_output_mae``: MAE of the whole quantized model's output against
  FP, measured once per block visit (the same for every candidate),
- ``output_kl``: KL divergence of the candidate model's logits from the FP
  logits, the rest of the network run from the block for each candidate
  (for a model without a head: the relative MSE of its feature maps).

A fitness names which terms it needs and how it combines them; the
registry maps the ``fitness`` field of :class:`SearchConfig` to one.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Sequence, Union

import torch
import torch.nn.functional as F

ModelOutput = Union[torch.Tensor, Sequence[torch.Tensor]]
Terms = Dict[str, float]


@dataclass(frozen=True)
class FitnessDefinition:
    """One selectable fitness.

    Args:
        name (str): Its name in the config.
        combine (Callable[[dict, float], float]): ``(terms,
            output_mae_weight) -> fitness`` (lower is better).
        needs_output (bool): Whether it needs ``output_kl``, i.e. a run of
            the rest of the network per candidate.
        description (str): One line for reports.
    """
    name: str
    combine: Callable[[Terms, float], float]
    needs_output: bool
    description: str


#: Every selectable fitness, by name.
FITNESSES: Dict[str, FitnessDefinition] = {}


def register_fitness(name: str, description: str,
                     needs_output: bool = False) -> Callable:
    """Decorator adding ``combine(terms, output_mae_weight)`` to
    :data:`FITNESSES` under ``name``."""

    def decorator(combine: Callable[[Terms, float], float]) -> Callable:
        if name in FITNESSES:
            raise KeyError(f'fitness {name!r} is already registered')
        FITNESSES[name] = FitnessDefinition(name, combine, needs_output,
                                            description)
        return combine

    return decorator


def get_fitness(name: str) -> FitnessDefinition:
    """The fitness called ``name``; a ValueError naming the allowed ones."""
    if name not in FITNESSES:
        raise ValueError(f'fitness must be one of {tuple(FITNESSES)}, got '
                         f'{name!r}')
    return FITNESSES[name]


@register_fitness('info_nce', 'local InfoNCE + lambda x model MAE of the '
                  'visit (the original fitness)')
def _info_nce(terms: Terms, output_mae_weight: float) -> float:
    return terms['info_nce'] + output_mae_weight * terms['visit_output_mae']


@register_fitness('mse', 'relative MSE of the block output tokens')
def _mse(terms: Terms, output_mae_weight: float) -> float:
    return terms['mse']


@register_fitness('cosine', '1 - cosine of the block output tokens')
def _cosine(terms: Terms, output_mae_weight: float) -> float:
    return terms['cosine']


@register_fitness('output_kl', 'KL of FP to quantized logits, rest of the '
                  'network run per candidate', needs_output=True)
def _output_kl(terms: Terms, output_mae_weight: float) -> float:
    return terms['output_kl']


@register_fitness('info_nce_output_kl', "the paper's L_F = L_C2 + L_O: "
                  'local InfoNCE + per-candidate output KL',
                  needs_output=True)
def _info_nce_output_kl(terms: Terms, output_mae_weight: float) -> float:
    return terms['info_nce'] + terms['output_kl']


@register_fitness('mse_output_kl', 'relative block MSE + per-candidate '
                  'output KL', needs_output=True)
def _mse_output_kl(terms: Terms, output_mae_weight: float) -> float:
    return terms['mse'] + terms['output_kl']


def token_terms(quantized_grid: torch.Tensor,
                fp_grid: torch.Tensor) -> Terms:
    """``mse`` and ``cosine`` of quantized against FP tokens.

    Args:
        quantized_grid (Tensor): (B, H, W, D) quantized block output.
        fp_grid (Tensor): The FP block output, same shape.

    Returns:
        dict[str, float]: ``mse`` (relative to the FP mean square) and
        ``cosine`` (one minus the mean token cosine).
    """
    quantized, fp = quantized_grid.float(), fp_grid.float()
    mse = (quantized - fp).pow(2).mean() / fp.pow(2).mean().clamp(min=1e-12)
    cosine = 1 - F.cosine_similarity(quantized, fp, dim=-1).mean()
    return dict(mse=float(mse), cosine=float(cosine))


def output_divergence(quantized_output: ModelOutput,
                      fp_output: ModelOutput) -> float:
    """How far a quantized model's output is from the FP output.

    Args:
        quantized_output (Tensor | Sequence[Tensor]): Logits (N, classes)
            or feature maps.
        fp_output (Tensor | Sequence[Tensor]): The FP output, same
            structure.

    Returns:
        float: For logits, ``KL(softmax(fp) || softmax(quantized))``
        averaged over the batch; for feature maps, the mean over maps of
        their MSE relative to the FP mean square.
    """
    if isinstance(quantized_output, torch.Tensor):
        if quantized_output.dim() == 2:
            return float(F.kl_div(F.log_softmax(quantized_output.float(), -1),
                                  F.log_softmax(fp_output.float(), -1),
                                  reduction='batchmean', log_target=True))
        quantized_output, fp_output = [quantized_output], [fp_output]
    errors = [(q.float() - f.float()).pow(2).mean() /
              f.float().pow(2).mean().clamp(min=1e-12)
              for q, f in zip(quantized_output, fp_output)]
    return float(torch.stack(errors).mean())
