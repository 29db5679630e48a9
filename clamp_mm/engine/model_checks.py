"""Checks on the built float model, run by the preflight before anything is
written: the recipe's override patterns match quantizers, a quantized file
fits this architecture, and the work dir's disk has room for the run."""
import os.path as osp
from typing import Optional

from torch import nn

from clamp_mm.quant import QuantRecipe, quantize
from clamp_mm.synth.base_generator import resolve_resolution
from .disk_space import check_run_space, estimate_run_bytes
from .quantized_checkpoint import load_quantized as load_quantized_file
from .target_module import resolve_target


def check_model_inputs(model: nn.Module,
                       loop_cfg: dict,
                       load_quantized: Optional[str] = None,
                       work_dir: Optional[str] = None) -> None:
    """Check what needs the built model; ``model`` is changed (quantized),
    so pass a throw-away copy.

    Args:
        model (nn.Module): A freshly built float model.
        loop_cfg (dict): The ``test_cfg`` of the run.
        load_quantized (str, optional): A quantized file to restore.
            Defaults to None.
        work_dir (str, optional): Where the run writes (must exist); None
            skips the space check. Defaults to None.

    Raises:
        ValueError: An override pattern that matches no quantizer, or a
            quantized file that does not fit ``model``.
        DiskFullError: Too little space in ``work_dir``.
    """
    _, target, adapter = resolve_target(model,
                                        loop_cfg.get('quantized_module'))
    resolution = resolve_resolution(adapter, loop_cfg.get('resolution'))
    if work_dir is not None and osp.isdir(work_dir):
        check_run_space(work_dir, estimate_run_bytes(
            model, loop_cfg.get('num_images', 32), resolution,
            writes_model=load_quantized is None and loop_cfg.get(
                'save_quantized', True)))
    if load_quantized is not None:
        load_quantized_file(model, load_quantized)
        return
    recipe = QuantRecipe.from_dict(loop_cfg.get('recipe') or {})
    if recipe.overrides:
        try:
            quantize(target, recipe, adapter=adapter)
        except ValueError as error:
            raise ValueError(f'test_cfg.recipe.{error}') from None
