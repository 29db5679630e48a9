"""Fake-quant inference time against float, for each supported family.

Builds a randomly initialised model of each family (real architectures:
DeiT-T, Swin-T ...; no weights are needed for timing), quantizes a copy
W4/A8 with each recipe preset named (calibrated on two random images), and
times the float and the fake-quantized forwards in one run, interleaved, so
the presets' ratios are comparable. Writes a Markdown table to
docs/benchmark_fake_quant.md (or --out).

Usage:
    python tools/benchmark_fake_quant.py [--families timm-deit-t ...]
        [--presets minmax clamp_full] [--threads 1] [--repeats 5]
        [--out docs/benchmark_fake_quant.md]
"""
import argparse
import copy
import datetime
import platform
import statistics
import time

import torch

from clamp_mm.models import calibrate_observers, find_adapter
from clamp_mm.quant import PRESETS, model_cost
from clamp_mm.quant.tensor_quantizer import iter_quantizers


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


def _time_interleaved(functions, repeats):
    """Median seconds of each function, the runs interleaved (one of each
    in turn, after one warm-up each), so that a load change on the shared
    machine hits all of them alike."""
    for function in functions.values():
        function()  # warm-up
    timings = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            timings[name].append(time.perf_counter() - start)
    return {name: statistics.median(values)
            for name, values in timings.items()}


def quantizer_time_by_kind(model, forward, repeats):
    """Seconds one forward spends inside the quantizers, by (point, kind).

    Forward hooks time every quantizer call (the median over ``repeats``
    forwards of each group's total); what is left of the forward is the
    float work (matmuls, LayerNorm, softmax ...).

    Returns:
        dict[str, float]: ``'point:kind'`` -> seconds per forward.
    """
    totals, starts, handles = {}, {}, []
    for _, quantizer in iter_quantizers(model):
        key = f'{quantizer.point}:{quantizer.kernel_kind}'

        def before(module, inputs):
            starts[id(module)] = time.perf_counter()

        def after(module, inputs, output, key=key):
            totals[key] = totals.get(key, 0.0) + (time.perf_counter() -
                                                  starts.pop(id(module)))

        handles += [quantizer.register_forward_pre_hook(before),
                    quantizer.register_forward_hook(after)]
    runs = []
    try:
        with torch.no_grad():
            forward()  # warm-up
            for _ in range(repeats):
                totals.clear()
                forward()
                runs.append(dict(totals))
    finally:
        for handle in handles:
            handle.remove()
    return {key: statistics.median(run.get(key, 0.0) for run in runs)
            for key in runs[0]}


def benchmark(family, repeats, presets, profile=False):
    description, build = FAMILIES[family]
    float_model, (height, width) = build()
    images = torch.randn(1, 3, height, width)
    float_adapter = find_adapter(float_model)
    # Two calibration images, one forward each (the same for every preset).
    calibration = torch.cat([torch.randn(1, 3, height, width)
                             for _ in range(2)])
    forwards = {'float': lambda: float_adapter.forward_images(images)}
    quantized = {}
    for preset in presets:
        model = copy.deepcopy(float_model)
        adapter = find_adapter(model)
        calibrate_observers(model,
                            dict(preset=preset, weight_bits=4, act_bits=8),
                            calibration, 1, adapter)
        quantized[preset] = (model, adapter)
        forwards[preset] = (lambda adapter=adapter:
                            adapter.forward_images(images))
    with torch.no_grad():
        seconds = _time_interleaved(forwards, repeats)
    profiles = {}
    if profile:
        for preset, (model, adapter) in quantized.items():
            profiles[preset] = quantizer_time_by_kind(
                model, lambda adapter=adapter: adapter.forward_images(images),
                repeats)
    model, adapter = quantized[presets[0]]
    cost = model_cost(model, images,
                      lambda model, x, adapter=adapter:
                      adapter.forward_images(x))
    return dict(family=family,
                description=description,
                size=f'{height}x{width}',
                float_ms=1000 * seconds['float'],
                quant_ms={preset: 1000 * seconds[preset]
                          for preset in presets},
                ratio={preset: seconds[preset] / seconds['float']
                       for preset in presets},
                profile=profiles,
                macs=cost.macs,
                size_mb=cost.size_mb,
                float_size_mb=cost.float_size_mb)


def report(rows, args) -> str:
    """The Markdown page: one row per family, a ratio per preset, and with
    ``--profile`` where each preset's quantizer time goes."""
    presets = args.presets
    lines = [
        '# Fake-quant inference time against float',
        '',
        f'Written by `tools/benchmark_fake_quant.py` on '
        f'{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC. '
        f'CPU: {platform.processor() or platform.machine()}, '
        f'torch {torch.__version__}, {args.threads} thread(s), batch 1, '
        f'median of {args.repeats} runs after one warm-up, the float and '
        'quantized forwards interleaved; random weights (timing does not '
        'depend on them). Quantized: W4/A8 with each recipe preset named '
        '(its own protocol and quantizer types), scope backbone, calibrated '
        'on two random images. The machine is shared by several processes: '
        'treat the ratios (fake-quant / float, measured in one run), not '
        'the absolute times, as the result.',
        '',
        '| family | model | input | float ms | ' + ' | '.join(
            f'{preset} ms | {preset} ratio' for preset in presets) +
        ' | GMACs | W4 size MB | float size MB |',
        '|---|---|---|---|' + '---|---|' * len(presets) + '---|---|---|',
    ]
    for row in rows:
        lines.append(
            f"| {row['family']} | {row['description']} | {row['size']} | "
            f"{row['float_ms']:.1f} | " + ' | '.join(
                f"{row['quant_ms'][preset]:.1f} | "
                f"{row['ratio'][preset]:.2f}" for preset in presets) +
            f" | {row['macs'] / 1e9:.2f} | "
            f"{row['size_mb']:.2f} | {row['float_size_mb']:.2f} |")
    if any(row['profile'] for row in rows):
        lines += [
            '', '## Where the quantizer time goes', '',
            'Milliseconds per forward spent inside the quantizers, by quant '
            'point and kernel kind (forward hooks; median of the runs).', '',
            '| family | preset | quantizers total ms | point:kind ms, '
            'largest first |', '|---|---|---|---|'
        ]
        for row in rows:
            for preset, profile in row['profile'].items():
                parts = ', '.join(
                    f'{key} {1000 * value:.1f}' for key, value in sorted(
                        profile.items(), key=lambda item: -item[1]))
                total = 1000 * sum(profile.values())
                lines.append(f"| {row['family']} | {preset} | {total:.1f} "
                             f'| {parts} |')
    return '\n'.join(lines) + '\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--families',
                        nargs='+',
                        default=list(FAMILIES),
                        choices=list(FAMILIES))
    parser.add_argument('--presets',
                        nargs='+',
                        default=['minmax', 'clamp_full'],
                        choices=sorted(PRESETS),
                        help='recipe presets timed side by side (the first '
                        'one gives the size columns)')
    parser.add_argument('--profile', action='store_true',
                        help='also time the quantizers by point and kind')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--out', default='docs/benchmark_fake_quant.md')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for family in args.families:
        try:
            rows.append(
                benchmark(family, args.repeats, args.presets, args.profile))
        except ImportError as error:  # library of that family missing
            print(f'skipping {family}: {error}')
            continue
        print(rows[-1], flush=True)
    with open(args.out, 'w') as file:
        file.write(report(rows, args))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
