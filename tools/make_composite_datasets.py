"""Build the composite detection/segmentation sets from real objects.

Real objects, synthetic layout: Fashion-MNIST garments pasted on photos and
textures from ``skimage.data``. The same seed writes byte-identical files.

Example::

    python tools/make_composite_datasets.py            # data/composite/
    python tools/make_composite_datasets.py --seed 1 --num-train 500 \
        --out-dir /tmp/composite --overwrite
"""
import argparse
import time

from clamp_mm.datasets.composite import CompositeSceneConfig
from clamp_mm.datasets.composite_build import build_composite_datasets
from clamp_mm.datasets.composite_sources import DEFAULT_FASHION_MNIST_ROOT


def parse_args():
    defaults = CompositeSceneConfig()
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out-dir', default='data/composite',
                        help='output folder (coco/ and ade20k/ inside)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train', type=int, default=2000)
    parser.add_argument('--num-val', type=int, default=250)
    parser.add_argument('--image-size', type=int,
                        default=defaults.image_size)
    parser.add_argument('--max-objects', type=int,
                        default=defaults.max_objects)
    parser.add_argument('--formats', nargs='+', default=['coco', 'ade20k'],
                        choices=['coco', 'ade20k'])
    parser.add_argument('--fashion-mnist-root',
                        default=DEFAULT_FASHION_MNIST_ROOT)
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing coco/ or ade20k/ folders')
    return parser.parse_args()


def main():
    args = parse_args()
    config = CompositeSceneConfig(
        image_size=args.image_size, max_objects=args.max_objects)
    start = time.time()
    roots = build_composite_datasets(
        args.out_dir,
        seed=args.seed,
        num_train=args.num_train,
        num_val=args.num_val,
        formats=args.formats,
        config=config,
        fashion_mnist_root=args.fashion_mnist_root,
        overwrite=args.overwrite)
    for name, root in roots.items():
        print(f'{name}: {root}')
    print(f'{args.num_train} train + {args.num_val} val images, seed '
          f'{args.seed}, {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
