"""Plots of the calibration images each generator makes, against real data.

Writes to ``--out-dir``:

- ``images.png``: the first images of each method (and real ones), one row
  per method, denormalised to pixels;
- ``patch_similarity_kde.png``: per MHSA layer, the kernel density of the
  cosine similarity of patch pairs inside an image, for the FP model on real
  images versus each method's images;
- ``mispredictions.png`` and ``summary.md``: how often the FP model does not
  predict the random label an image was optimised towards (paper: CLAMP
  22 %, PSAQ-ViT v1 34 %), and the generation time of each method;
- ``<method>.pth``: the generated images (SyntheticImageDataset files), so a
  second run re-plots without generating again.

The model is a Fashion-MNIST classifier of ``configs/fashion_mnist`` with its
checkpoint ``checkpoints/fmnist_<model>.pth`` when both exist, else a randomly
initialised timm ViT of the same size (the figures then say so).

Example:
    nice -n 10 python tools/plot_synth.py --model vit --num-images 32 \
        --iterations 500 --out-dir work_dirs/plot_synth_vit
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import matplotlib
import numpy as np
import torch

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

# Run from a checkout without `pip install -e .` as well.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from clamp_mm.models import find_adapter  # noqa: E402
from clamp_mm.registry import GENERATORS  # noqa: E402
from clamp_mm.synth import SyntheticImageDataset, TokenGridCollector  # noqa
from clamp_mm.synth.base_generator import frozen  # noqa: E402
from clamp_mm.synth.diagnostics import (denormalise,  # noqa: E402
                                        misprediction_rate)

#: Method name on the command line -> generator type.
METHODS = {
    'clamp': 'clamp_mm.ClampGenerator',
    'psaq_v1': 'clamp_mm.PSAQv1Generator',
    'psaq_v2': 'clamp_mm.PSAQv2Generator',
    'gaussian': 'clamp_mm.GaussianGenerator',
}
#: Pairs of patch similarities per layer and method fed to the density.
MAX_SIMILARITY_SAMPLES = 20000


def load_model(name: str, config: str, checkpoint: str):
    """The FP classifier and a description of where it came from."""
    config = config or f'configs/fashion_mnist/{name}_fmnist.py'
    checkpoint = checkpoint or f'checkpoints/fmnist_{name}.pth'
    if osp.isfile(config) and osp.isfile(checkpoint):
        from clamp_mm.engine.target_module import resolve_target
        from clamp_mm.pipeline.float_model import load_float_model
        model, origin = load_float_model(config, checkpoint, 'mmpretrain')
        # The timm model inside a TimmClassifier (timm_vit), else the model.
        _, model, _ = resolve_target(model)
        return model.eval(), origin
    from timm.models.vision_transformer import VisionTransformer
    torch.manual_seed(0)
    model = VisionTransformer(img_size=32, patch_size=4, embed_dim=64,
                              depth=4, num_heads=2, num_classes=10)
    return model.eval(), ('randomly initialised timm ViT (no trained '
                          f'checkpoint at {checkpoint})')


def real_images(adapter, num_images: int, seed: int) -> torch.Tensor:
    """Fashion-MNIST test images, normalised with the adapter's mean/std."""
    from clamp_mm.datasets.fashion_mnist import load_fashion_mnist_images
    mean, std = adapter.mean_std
    return load_fashion_mnist_images(
        num_images, split='test', image_size=adapter.input_size[0],
        seed=seed, mean=mean, std=std)


def to_pixels(images: torch.Tensor, adapter) -> np.ndarray:
    """Normalised (N, 3, H, W) images to (N, H, W, 3) values in [0, 1]."""
    return denormalise(images, *adapter.mean_std).numpy()


@torch.no_grad()
def patch_similarities(adapter, images: torch.Tensor, seed: int):
    """Per tapped layer, a sample of within-image patch-pair similarities."""
    with frozen(adapter.model), TokenGridCollector(adapter) as collector:
        adapter.forward_images(images)
    random = np.random.default_rng(seed)
    per_layer = []
    for grid in collector.grids:
        tokens = torch.nn.functional.normalize(grid.flatten(1, 2), dim=-1)
        similarity = tokens @ tokens.transpose(1, 2)
        rows, cols = torch.triu_indices(tokens.shape[1], tokens.shape[1], 1)
        values = similarity[:, rows, cols].flatten().numpy()
        if len(values) > MAX_SIMILARITY_SAMPLES:
            values = random.choice(values, MAX_SIMILARITY_SAMPLES,
                                   replace=False)
        per_layer.append(values)
    return collector.names, per_layer


def plot_images(sets, adapter, path, per_row=8):
    fig, axes = plt.subplots(len(sets), per_row,
                             figsize=(per_row * 1.2, len(sets) * 1.3),
                             squeeze=False)
    for row, (name, images) in enumerate(sets.items()):
        pixels = to_pixels(images[:per_row], adapter)
        for column in range(per_row):
            axis = axes[row][column]
            axis.axis('off')
            if column < len(pixels):
                axis.imshow(pixels[column])
        axes[row][0].set_title(name, loc='left', fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_similarity_densities(sets, adapter, path, seed):
    from scipy.stats import gaussian_kde
    densities = {}
    names = None
    for method, images in sets.items():
        names, densities[method] = patch_similarities(adapter, images, seed)
    columns = min(4, len(names))
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns,
                                                     2.6 * rows),
                             squeeze=False)
    points = np.linspace(-1, 1, 400)
    for layer, name in enumerate(names):
        axis = axes[layer // columns][layer % columns]
        for method, per_layer in densities.items():
            values = per_layer[layer]
            if np.ptp(values) < 1e-6:
                continue  # a constant sample has no density to estimate
            axis.plot(points, gaussian_kde(values)(points), label=method,
                      linewidth=2.0 if method == 'real' else 1.2)
        # Log scale: a collapsed set (all patches alike) spikes by orders of
        # magnitude and would flatten every other curve.
        axis.set_yscale('log')
        axis.set_ylim(1e-3, None)
        axis.set_title(name, fontsize=8)
        axis.set_xlabel('cosine similarity of patch pairs', fontsize=7)
    axes[0][0].legend(fontsize=7)
    for index in range(len(names), rows * columns):
        axes[index // columns][index % columns].axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def parse_args():
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='vit',
                        choices=['vit', 'deit', 'swin', 'timm_vit',
                                 'vit_deep'],
                        help='Fashion-MNIST classifier (default: vit)')
    parser.add_argument('--config', help='model config; defaults to '
                        'configs/fashion_mnist/<model>_fmnist.py')
    parser.add_argument('--checkpoint', help='weights; defaults to '
                        'checkpoints/fmnist_<model>.pth')
    parser.add_argument('--methods', nargs='+', default=list(METHODS),
                        choices=list(METHODS), help='generators to compare')
    parser.add_argument('--num-images', type=int, default=32,
                        help='images per method (default: 32)')
    parser.add_argument('--iterations', type=int, default=500,
                        help='steps per round of the optimising generators '
                        '(default: 500, method.md)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (default: 1)')
    parser.add_argument('--out-dir', default='work_dirs/plot_synth')
    return parser.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out_dir, exist_ok=True)
    model, origin = load_model(args.model, args.config, args.checkpoint)
    adapter = find_adapter(model)
    sets, rates, seconds = {}, {}, {}
    try:
        sets['real'] = real_images(adapter, args.num_images, args.seed)
    except (ImportError, FileNotFoundError) as error:
        print(f'no real images: {error}')
    for method in args.methods:
        fields = dict(type=METHODS[method], seed=args.seed)
        if method != 'gaussian':
            fields['iterations'] = args.iterations
        generator = GENERATORS.build(fields)
        path = osp.join(args.out_dir, f'{method}.pth')
        reused = osp.exists(path)
        started = time.perf_counter()
        dataset = SyntheticImageDataset.load_or_generate(
            path, generator, adapter, args.num_images)
        seconds[method] = ('reused' if reused else
                           f'{time.perf_counter() - started:.1f}')
        sets[method] = dataset.images
        targets = dataset.metadata.get('targets')
        rate = misprediction_rate(
            adapter, dataset.images,
            None if targets is None else torch.tensor(targets))
        if rate is not None:
            rates[method] = rate
    plot_images(sets, adapter, osp.join(args.out_dir, 'images.png'))
    plot_similarity_densities(sets, adapter,
                              osp.join(args.out_dir,
                                       'patch_similarity_kde.png'), args.seed)
    if rates:
        fig, axis = plt.subplots(figsize=(4, 3))
        axis.bar(list(rates), [100 * r for r in rates.values()])
        axis.set_ylabel('FP mis-predictions of the target label (%)')
        fig.tight_layout()
        fig.savefig(osp.join(args.out_dir, 'mispredictions.png'), dpi=120)
        plt.close(fig)
    lines = [
        f'# Synthetic calibration images: {args.model}', '',
        f'- model: {origin}', f'- {args.num_images} images per method, '
        f'{args.iterations} iterations per round, seed {args.seed}, '
        f'{args.threads} thread(s)', '',
        '| method | FP mis-prediction of target label | generation s |',
        '|---|---|---|'
    ]
    for method in args.methods:
        rate = f'{100 * rates[method]:.1f} %' if method in rates else 'n/a'
        lines.append(f'| {method} | {rate} | {seconds[method]} |')
    with open(osp.join(args.out_dir, 'summary.md'), 'w') as file:
        file.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    print(json.dumps(dict(out_dir=args.out_dir, rates=rates)))


if __name__ == '__main__':
    main()
