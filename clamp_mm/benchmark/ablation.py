"""The quantizer ablation: each quantizer component on and off.

One row is a recipe variant; one cell is (model, setting, protocol,
calibration source, seed, variant) and its top-1 on the evaluation images.
Calibration sets are made once per model, source and seed (CLAMP stage-1
images cached on disk), so the variants differ only in the quantizer.
Results are appended to a JSON-lines file as they come, and a rerun skips
the cells already there.
"""
import copy
import json
import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from clamp_mm.quant import PRESETS, QuantRecipe, quantize
from .methods import SETTINGS, BenchmarkConfig

#: Components: (description, recipe fields when on). Off is the 'minmax'
#: preset's value of the same fields.
COMPONENTS: Dict[str, Tuple[str, dict]] = {
    'percentile': ('percentile (99.99) activation clipping',
                   dict(act_observer='percentile')),
    'weight_omse': ('per-channel OMSE (MSE) weight clipping',
                    dict(weight_observer='omse')),
    'log_sqrt2': ('log-sqrt(2) softmax', dict(softmax_quantizer='log_sqrt2')),
    'reparam': ('RepQ-ViT post-LayerNorm reparameterization',
                dict(reparameterize_layernorm=True)),
    'ptf': ('power-of-two factors at the block outputs (full only)',
            dict(point_quantizers={'block_output': 'ptf'})),
}
#: Alternatives tried in place of (or on top of) a component.
ALTERNATIVES: Dict[str, Tuple[str, dict]] = {
    'act_omse': ('OMSE activation clipping', dict(act_observer='omse')),
    'omse_no_softmax': ('OMSE activation clipping, min-max softmax',
                        dict(act_observer='omse',
                             point_observers={'softmax': 'minmax'})),
    'log2': ('log2 softmax', dict(softmax_quantizer='log2')),
    'twin_softmax': ('twin-uniform softmax',
                     dict(softmax_quantizer='twin_uniform')),
    'twin_gelu': ('twin-uniform post-GELU',
                  dict(point_quantizers={'post_gelu': 'twin_uniform'})),
    'image8': ('8-bit patch-embedding input (the image)',
               dict(patch_embed_input_bits=8)),
}
MINMAX = dict(weight_observer='minmax', act_observer='minmax',
              softmax_quantizer='uniform', point_quantizers={},
              point_observers={}, reparameterize_layernorm=False,
              patch_embed_input_bits=None)


def _merge(*parts: dict) -> dict:
    merged: dict = {}
    for part in parts:
        for key, value in part.items():
            if key in ('point_quantizers', 'point_observers'):
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
    return merged


def variants(protocol: str) -> Dict[str, dict]:
    """Recipe fields of every ablation row under ``protocol``.

    Rows: ``minmax``; ``+X`` (one component or alternative added to
    minmax); ``all`` (every component); ``all -X`` (one removed);
    ``all X`` (an alternative swapped in); and the published presets'
    quantizers under this protocol.
    """
    components = [name for name in COMPONENTS
                  if name != 'ptf' or protocol == 'full']
    rows = {'minmax': dict(MINMAX)}
    for name in components + list(ALTERNATIVES):
        fields = (COMPONENTS.get(name) or ALTERNATIVES[name])[1]
        rows[f'+{name}'] = _merge(MINMAX, fields)
    everything = _merge(MINMAX, *(COMPONENTS[name][1] for name in components))
    rows['all'] = everything
    for name in components:
        without = [other for other in components if other != name]
        rows[f'all -{name}'] = _merge(
            MINMAX, *(COMPONENTS[other][1] for other in without))
    for name, (_, fields) in ALTERNATIVES.items():
        rows[f'all {name}'] = _merge(everything, fields)
    for preset in ('fq_vit', 'ptq4vit', 'repq_vit'):
        rows[f'preset {preset}'] = dict(preset=preset)
    return rows


def select_variants(protocol: str, names: Optional[Sequence[str]]
                    ) -> Dict[str, dict]:
    """The rows named (all when None) that exist under ``protocol``
    (``+ptf`` only under 'full'); ``'preset NAME'`` runs any preset.

    Raises:
        ValueError: For a name that is a row under no protocol.
    """
    rows = variants(protocol)
    if not names:
        return rows
    known = set(rows) | set(variants('full'))
    chosen = {}
    for name in names:
        if name.startswith('preset '):
            preset = name.split(' ', 1)[1]
            if preset not in PRESETS:
                raise ValueError(f'unknown preset {preset!r} in variant '
                                 f'{name!r}; expected one of '
                                 f'{sorted(PRESETS)}')
            chosen[name] = dict(preset=preset)
        elif name not in known:
            raise ValueError(f'unknown ablation variant {name!r}; expected '
                             f'one of {list(variants("full"))}')
        elif name in rows:
            chosen[name] = rows[name]
    return chosen


def recipe_for(fields: dict, setting: str, protocol: str) -> QuantRecipe:
    """The recipe of one cell: the row's fields at a setting and protocol."""
    weight_bits, act_bits = SETTINGS[setting]
    return QuantRecipe.from_dict(
        dict(fields, weight_bits=weight_bits, act_bits=act_bits,
             protocol=protocol))


def _normalise(gray: np.ndarray, image_size: int, adapter) -> torch.Tensor:
    from clamp_mm.datasets.fashion_mnist import resize_images
    resized = torch.from_numpy(resize_images(gray, image_size)).float()
    rgb = resized[:, None].expand(-1, 3, -1, -1)
    mean, std = adapter.mean_std
    mean = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((rgb - mean) / std).contiguous()


def evaluation_images(adapter, split: str, num: Optional[int] = None
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``'val'``: Fashion-MNIST's ``split='val'`` (training images
    55000..59999); ``'test'``: the test split.

    Args:
        adapter (ModelAdapter): Gives the size and normalisation.
        split (str): ``'val'`` or ``'test'``.
        num (int, optional): Only the first ``num``. Defaults to None.
    """
    from clamp_mm.datasets.fashion_mnist import read_fashion_mnist
    if split not in ('val', 'test'):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    images, labels = read_fashion_mnist(split)
    if num is not None:
        images, labels = images[:num], labels[:num]
    return (_normalise(images, adapter.input_size[0], adapter),
            torch.from_numpy(labels.astype(np.int64)))


def real_calibration_images(adapter, num_images: int,
                            seed: int) -> torch.Tensor:
    """``num_images`` training images drawn (seeded) from ``'train55k'``,
    the training images outside the validation split."""
    from clamp_mm.datasets.fashion_mnist import read_fashion_mnist
    images, _ = read_fashion_mnist('train55k')
    chosen = np.sort(np.random.default_rng(seed).choice(
        len(images), num_images, replace=False))
    return _normalise(images[chosen], adapter.input_size[0], adapter)


def clamp_images(fp_model, adapter, model_key: str, num_images: int,
                 seed: int, cache_dir: str) -> torch.Tensor:
    """CLAMP stage-1 images at the benchmark's (method.md's) budget,
    generated once per model and seed and cached."""
    from mmengine.registry import DefaultScope

    from clamp_mm.registry import GENERATORS
    from clamp_mm.synth import SyntheticImageDataset
    cfg = BenchmarkConfig(num_images=num_images).generator_cfg('clamp', seed)
    with DefaultScope.overwrite_default_scope('clamp_mm'):
        generator = GENERATORS.build(cfg)
    os.makedirs(cache_dir, exist_ok=True)
    path = osp.join(cache_dir,
                    f'{model_key}_clamp_{num_images}_seed{seed}.pth')
    dataset = SyntheticImageDataset.load_or_generate(path, generator,
                                                     fp_model, num_images)
    return dataset.images


@torch.no_grad()
def top1(adapter, images: torch.Tensor, labels: torch.Tensor,
         batch_size: int = 500) -> float:
    """Top-1 (%) of the adapter's model."""
    predictions = torch.cat([
        adapter.forward_images(images[start:start + batch_size]).argmax(-1)
        for start in range(0, len(images), batch_size)
    ])
    return 100.0 * float((predictions == labels).float().mean())


@dataclass
class AblationCell:
    """Where one figure comes from."""
    model: str
    split: str
    setting: str
    protocol: str
    source: str
    seed: int
    variant: str

    @property
    def key(self) -> str:
        """Identifies the cell in the results file."""
        return '|'.join(str(value) for value in self.__dict__.values())


def read_results(path: str) -> Dict[str, dict]:
    """Records already in a JSON-lines results file, by cell key."""
    if not osp.isfile(path):
        return {}
    records = {}
    with open(path) as file:
        for line in file:
            if line.strip():
                record = json.loads(line)
                records[record['key']] = record
    return records


def run_cells(fp_model, adapter, model_key: str, cells: List[AblationCell],
              images: Dict[Tuple[str, int], torch.Tensor],
              evaluation: Tuple[torch.Tensor, torch.Tensor],
              results_path: str, fp_top1: float,
              num_images: int) -> Iterator[dict]:
    """Run the cells not yet in ``results_path``, appending each record."""
    from clamp_mm.models import find_adapter
    done = read_results(results_path)
    for cell in cells:
        if cell.key in done:
            continue
        variant_rows = select_variants(cell.protocol, [cell.variant])
        recipe = recipe_for(variant_rows[cell.variant], cell.setting,
                            cell.protocol)
        calibration = images[(cell.source, cell.seed)]
        model = copy.deepcopy(fp_model)
        quant_adapter = find_adapter(model)
        started = time.perf_counter()

        def forward_loop(_, adapter=quant_adapter, data=calibration):
            for batch in data.split(num_images):
                adapter.forward_images(batch)

        quantize(model, recipe, forward_loop, quant_adapter)
        calibrate_seconds = time.perf_counter() - started
        accuracy = top1(quant_adapter, *evaluation)
        record = dict(cell.__dict__, key=cell.key, top1=accuracy,
                      fp_top1=fp_top1, delta=accuracy - fp_top1,
                      calibrate_seconds=calibrate_seconds,
                      eval_seconds=time.perf_counter() - started -
                      calibrate_seconds,
                      recipe=recipe.to_dict())
        with open(results_path, 'a') as file:
            file.write(json.dumps(record) + '\n')
        yield record
