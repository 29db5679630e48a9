"""Fake-quant inference time against float, for each supported family.

Builds a randomly initialised model of each family (real architectures:
DeiT-T, Swin-T ...; no weights are needed for timing), quantizes it W4/A8
with clamp_mm.quant.quantize (calibrated on two random batches), and times
float and fake-quantized forwards. Writes a Markdown table to
docs/benchmark_fake_quant.md (or --out).

Usage:
    python tools/benchmark_fake_quant.py [--families timm-deit-t ...]
        [--threads 1] [--repeats 5] [--out docs/benchmark_fake_quant.md]
"""
import argparse
import copy
import datetime
import platform
import statistics
import time

import torch

from clamp_mm.models import calibrate_observers, find_adapter
from clamp_mm.quant import model_cost


def _timm(name, size):
    import timm
    return timm.create_model(name, pretrained=False).eval(), size


def _mm(package, cfg, size):
    import importlib
    registry = importlib.import_module(f'{package}.registry')
    model = registry.MODELS.build(cfg)
    model.eval()  # OpenMMLab Swin's train() returns None, not self
    return model, size


def _classifier(backbone, head, neck=None):
    return dict(type='ImageClassifier',
                backbone=backbone,
                neck=neck,
                head=dict(head,
                          num_classes=1000,
                          loss=dict(type='CrossEntropyLoss')),
                data_preprocessor=dict(type='ClsDataPreprocessor'))


def _dense_swin(package, size):
    return _mm(package,
               dict(type='SwinTransformer', init_cfg=None, drop_path_rate=0.),
               size)


#: family -> (model description, builder returning (model, (H, W))).
FAMILIES = {
    'timm-deit-t':
    ('timm deit_tiny_patch16_224', lambda: _timm('deit_tiny_patch16_224',
                                                 (224, 224))),
    'timm-swin-t': ('timm swin_tiny_patch4_window7_224',
                    lambda: _timm('swin_tiny_patch4_window7_224', (224, 224))),
    'mmpretrain-deit-t':
    ('mmpretrain ImageClassifier, VisionTransformer '
     'arch deit-tiny', lambda: _mm(
         'mmpretrain',
         _classifier(
             dict(type='VisionTransformer', arch='deit-tiny', img_size=224),
             dict(type='VisionTransformerClsHead', in_channels=192)),
         (224, 224))),
    'mmpretrain-swin-t':
    ('mmpretrain ImageClassifier, SwinTransformer '
     'arch tiny', lambda: _mm(
         'mmpretrain',
         _classifier(dict(type='SwinTransformer', arch='tiny', img_size=224),
                     dict(type='LinearClsHead', in_channels=768),
                     neck=dict(type='GlobalAveragePooling')), (224, 224))),
    'mmdet-swin-t': ('mmdet SwinTransformer (Swin-T backbone)',
                     lambda: _dense_swin('mmdet', (256, 256))),
    'mmseg-swin-t': ('mmseg SwinTransformer (Swin-T backbone)',
                     lambda: _dense_swin('mmseg', (256, 256))),
    'mmseg-vit-deit-s': ('mmseg VisionTransformer (DeiT-S dims)', lambda: _mm(
        'mmseg',
        dict(type='VisionTransformer',
             img_size=(256, 256),
             embed_dims=384,
             num_heads=6,
             init_cfg=None,
             drop_path_rate=0.), (256, 256))),
}


def _time(function, repeats):
    function()  # warm-up
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def benchmark(family, repeats):
    description, build = FAMILIES[family]
    float_model, (height, width) = build()
    images = torch.randn(1, 3, height, width)
    quantized = copy.deepcopy(float_model)
    adapter = find_adapter(quantized)
    float_adapter = find_adapter(float_model)
    # Two calibration images, one forward each.
    calibration = torch.cat([torch.randn(1, 3, height, width)
                             for _ in range(2)])
    calibrate_observers(quantized, dict(weight_bits=4, act_bits=8),
                        calibration, 1, adapter)
    with torch.no_grad():
        float_seconds = _time(lambda: float_adapter.forward_images(images),
                              repeats)
        quant_seconds = _time(lambda: adapter.forward_images(images), repeats)
    cost = model_cost(quantized, images,
                      lambda model, x: adapter.forward_images(x))
    return dict(family=family,
                description=description,
                size=f'{height}x{width}',
                float_ms=1000 * float_seconds,
                quant_ms=1000 * quant_seconds,
                ratio=quant_seconds / float_seconds,
                macs=cost.macs,
                size_mb=cost.size_mb,
                float_size_mb=cost.float_size_mb)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--families',
                        nargs='+',
                        default=list(FAMILIES),
                        choices=list(FAMILIES))
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out', default='docs/benchmark_fake_quant.md')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for family in args.families:
        try:
            rows.append(benchmark(family, args.repeats))
        except ImportError as error:  # library of that family missing
            print(f'skipping {family}: {error}')
            continue
        print(rows[-1])
    lines = [
        '# Fake-quant inference time against float',
        '',
        f'Written by `tools/benchmark_fake_quant.py` on '
        f'{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC. '
        f'CPU: {platform.processor() or platform.machine()}, '
        f'torch {torch.__version__}, {args.threads} thread(s), batch 1, '
        f'median of {args.repeats} runs after one warm-up, random weights '
        '(timing does not depend on them). Quantized: W4/A8, every quant '
        'point of method.md section 1 on, scope backbone, calibrated on two '
        'random images. The machine is shared by several processes: treat '
        'the ratios, not the absolute times, as the result.',
        '',
        '| family | model | input | float ms | fake-quant ms | ratio | '
        'GMACs | W4 size MB | float size MB |',
        '|---|---|---|---|---|---|---|---|---|',
    ]
    for row in rows:
        lines.append(
            f"| {row['family']} | {row['description']} | {row['size']} | "
            f"{row['float_ms']:.1f} | {row['quant_ms']:.1f} | "
            f"{row['ratio']:.2f} | {row['macs'] / 1e9:.2f} | "
            f"{row['size_mb']:.2f} | {row['float_size_mb']:.2f} |")
    with open(args.out, 'w') as file:
        file.write('\n'.join(lines) + '\n')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
