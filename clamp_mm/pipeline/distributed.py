"""Distributed helpers of the quantization loop (mmengine.dist based).

Every function is a no-op, or the single-process computation, when no
process group is initialised, so the loop has one code path.
"""
import os.path as osp
from typing import List

import torch
from mmengine import dist
from torch import nn

from clamp_mm.quant import iter_quantizers


def share_of_images(num_images: int, rank: int, world_size: int) -> int:
    """How many of ``num_images`` images rank ``rank`` generates.

    The first ``num_images % world_size`` ranks take one image more.

    Args:
        num_images (int): Images wanted in total.
        rank (int): This process's rank.
        world_size (int): Number of processes.

    Returns:
        int: This rank's share (possibly 0 when there are more ranks than
        images).
    """
    base, extra = divmod(num_images, world_size)
    return base + (1 if rank < extra else 0)


def gather_images(local_images: torch.Tensor, num_images: int) -> torch.Tensor:
    """Concatenate every rank's images, in rank order, on every rank.

    ``mmengine.dist.all_gather`` needs tensors of one shape, so each share
    is padded to the largest share and trimmed again after the gather.

    Args:
        local_images (Tensor): This rank's (n_rank, 3, H, W) images
            (n_rank may be 0).
        num_images (int): Total over all ranks.

    Returns:
        Tensor: (num_images, 3, H, W), identical on every rank.
    """
    world_size = dist.get_world_size()
    if world_size == 1:
        return local_images
    counts = [
        share_of_images(num_images, rank, world_size)
        for rank in range(world_size)
    ]
    largest = max(counts)
    padded = local_images.new_zeros((largest, ) + local_images.shape[1:])
    padded[:len(local_images)] = local_images
    gathered: List[torch.Tensor] = dist.all_gather(padded)
    return torch.cat(
        [images[:count] for images, count in zip(gathered, counts)], dim=0)


def broadcast_quantization(model: nn.Module, src: int = 0) -> None:
    """Give every rank rank ``src``'s quantization parameters.

    Bit-widths (which mixed precision changes) travel as a Python object;
    ranges, scales and zero points as tensors. Float weights are not sent:
    every rank loaded them from the same checkpoint.

    Args:
        model (nn.Module): The quantized model, same structure on all ranks.
        src (int): Rank whose parameters win. Defaults to 0.
    """
    if dist.get_world_size() == 1:
        return
    quantizers = list(iter_quantizers(model))
    bits = [{name: quantizer.bits for name, quantizer in quantizers}]
    dist.broadcast_object_list(bits, src=src)
    for name, quantizer in quantizers:
        quantizer.bits = int(bits[0][name])
        for buffer_name in ('scale', 'zero_point', 'min_val', 'max_val'):
            dist.broadcast(getattr(quantizer, buffer_name), src=src)


def broadcast_tensor(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Rank ``src``'s tensor on every rank (any shape, sent as an object).

    Args:
        tensor (Tensor): This rank's tensor (ignored on ranks other than
            ``src``; may be None there).
        src (int): Sending rank. Defaults to 0.
    """
    if dist.get_world_size() == 1:
        return tensor
    holder = [tensor]
    dist.broadcast_object_list(holder, src=src)
    return holder[0]


#: Folder, inside the work dir, where metrics collect the ranks' results.
COLLECT_DIR = '.dist_collect'


def collect_results_under(evaluator, work_dir: str) -> None:
    """Make the evaluator's CPU-collecting metrics gather the ranks' results
    under ``work_dir`` instead of mmengine's default ``./.dist_test`` (the
    folder the run was started from, often a source checkout).

    Args:
        evaluator (Evaluator): The loop's evaluator.
        work_dir (str): The run's work dir, shared by the ranks.
    """
    for metric in getattr(evaluator, 'metrics', []):
        if getattr(metric, 'collect_device', None) == 'cpu' and \
                getattr(metric, 'collect_dir', None) is None:
            metric.collect_dir = osp.join(work_dir, COLLECT_DIR)
