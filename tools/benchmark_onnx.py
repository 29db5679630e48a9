"""ONNX latency, size and accuracy of quantized models in onnxruntime.

    python tools/benchmark_onnx.py                      # everything, writes docs/benchmark_onnx.md
    python tools/benchmark_onnx.py --models deit_s --threads 1 --out /tmp/b.md

For every model: the FP32 ONNX export, clamp_mm's W8/A8 and W4/A8 exports
(symmetric per-channel int8 weights, uint8 activations, every quant point of
method.md section 1, calibrated with minmax observers on 32 real training
images) and, as the anchor, onnxruntime's own ``quantize_static`` (QDQ, int8
per-channel weights, uint8 activations, MinMax) of the same FP32 file on the
same 32 images. Batch-1 latency is measured interleaved (rounds of runs of
every variant in turn; medians) at each thread count, with the machine load
(``uptime``) before and after. The Fashion-MNIST classifiers
(``checkpoints/``) are scored on all 10k test images; the timm DeiT-T,
DeiT-S and Swin-T geometries at 224x224 have random weights (latency and
size only) and are calibrated on Fashion-MNIST training images resized to
224. Test images only score finished models.
"""
import argparse
import copy
import datetime
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

FMNIST_MODELS = ('vit', 'deit', 'swin')
TIMM_MODELS = {
    'deit_t': 'deit_tiny_patch16_224',
    'deit_s': 'deit_small_patch16_224',
    'swin_t': 'swin_tiny_patch4_window7_224',
}
RECIPES = {
    'W8/A8': dict(preset='minmax', weight_bits=8, act_bits=8,
                  weight_symmetric=True),
    'W4/A8': dict(preset='minmax', weight_bits=4, act_bits=8,
                  weight_symmetric=True),
}
ANCHOR = 'ORT quantize_static W8/A8'
DEFAULT_SESSION = 'W8/A8, default session (MatMulAddFusion on)'
NUM_CALIBRATION = 32


def uptime() -> str:
    """The machine load, as ``uptime`` prints it."""
    text = subprocess.run(['uptime'], capture_output=True, text=True).stdout
    return text.strip().split('load average:')[-1].strip()


def load_model(key: str):
    """(model, adapter, calibration images, test images, test labels)."""
    import timm
    import torch

    from clamp_mm.benchmark.tasks import (MODEL_SPECS, ClassificationTask,
                                          load_float_model)
    from clamp_mm.datasets.fashion_mnist import load_fashion_mnist_images
    from clamp_mm.models import find_adapter
    if key in FMNIST_MODELS:
        spec = MODEL_SPECS[key]
        model, _ = load_float_model(spec)
        adapter = find_adapter(model)
        task = ClassificationTask(spec, adapter)
        calibration, _ = task.real_images(adapter, NUM_CALIBRATION, seed=0)
        return model, adapter, calibration, task.images, task.labels
    torch.manual_seed(0)
    model = timm.create_model(TIMM_MODELS[key], pretrained=False).eval()
    adapter = find_adapter(model)
    mean, std = adapter.mean_std
    calibration = load_fashion_mnist_images(
        NUM_CALIBRATION, split='train', image_size=adapter.input_size[0],
        seed=0, mean=mean, std=std)
    return model, adapter, calibration, None, None


def benchmark_model(key: str, args, work_dir: str) -> dict:
    """Export every variant of one model and measure it."""
    import numpy as np
    import torch

    from clamp_mm.deploy.latency import interleaved_latency
    from clamp_mm.deploy.onnx_export import export_onnx, exportable_module
    from clamp_mm.deploy.ort_quantize import ort_quantize_static
    from clamp_mm.deploy.runtime import (DISABLED_OPTIMIZERS, count_kernels,
                                         create_session, predict_classes)
    from clamp_mm.models import find_adapter
    from clamp_mm.quant import quantize
    model, adapter, calibration, test_images, test_labels = load_model(key)
    example = torch.randn(1, 3, *adapter.input_size)
    files = {'FP32': osp.join(work_dir, f'{key}_fp32.onnx')}
    export_onnx(exportable_module(model), example, files['FP32'])
    fake_quant = {}
    for label, recipe in RECIPES.items():
        quantized = copy.deepcopy(model)
        quantized_adapter = find_adapter(quantized)
        quantize(quantized, recipe, lambda m: [
            quantized_adapter.forward_images(calibration[i:i + 8])
            for i in range(0, len(calibration), 8)])
        path = osp.join(work_dir, f'{key}_{label[:2].lower()}a8.onnx')
        export_onnx(exportable_module(quantized), example, path,
                    require_integer=True)
        files[label] = path
        fake_quant[label] = (quantized, quantized_adapter)
    files[ANCHOR] = ort_quantize_static(
        files['FP32'], osp.join(work_dir, f'{key}_ort_static.onnx'),
        calibration.numpy())
    result = dict(model=key, input=list(adapter.input_size), variants={})
    # The same W8/A8 file in a session with every onnxruntime optimiser:
    # what MatMulAddFusion costs the QDQ graph.
    variants = [(label, path, DISABLED_OPTIMIZERS)
                for label, path in files.items()]
    variants.append((DEFAULT_SESSION, files['W8/A8'], ()))
    for label, path, disabled in variants:
        result['variants'][label] = dict(
            file_bytes=osp.getsize(path),
            kernels=str(count_kernels(path, disabled_optimizers=disabled)),
            latency_ms={})
    if test_images is not None:
        images = test_images.numpy()
        for label, path in files.items():
            predictions = predict_classes(create_session(path), images)
            result['variants'][label]['top1'] = 100.0 * float(
                (predictions == test_labels.numpy()).mean())
        torch.set_num_threads(1)
        for label, (quantized, quantized_adapter) in fake_quant.items():
            with torch.no_grad():
                predictions = torch.cat([
                    quantized_adapter.forward_images(
                        test_images[i:i + 500]).argmax(-1)
                    for i in range(0, len(test_images), 500)])
            result['variants'][label]['fake_quant_top1'] = 100.0 * float(
                (predictions == test_labels).float().mean())
    feed_array = np.ascontiguousarray(example.numpy())
    result['load_before'] = uptime()
    for threads in args.threads:
        runners = {}
        for label, path, disabled in variants:
            session = create_session(path, threads=threads,
                                     disabled_optimizers=disabled)
            feed = {session.get_inputs()[0].name: feed_array}
            runners[label] = (lambda s, f: lambda: s.run(None, f))(session,
                                                                   feed)
        # Sub-millisecond classifiers: more calls for the same time.
        runs = args.runs_per_round * (10 if key in FMNIST_MODELS else 1)
        timings = interleaved_latency(runners, args.rounds, runs)
        for label, seconds in timings.items():
            result['variants'][label]['latency_ms'][str(threads)] = \
                1e3 * seconds
        print(f'{key} {threads} thread(s): ' + ', '.join(
            f'{label} {1e3 * s:.2f} ms' for label, s in timings.items()),
            flush=True)
    result['load_after'] = uptime()
    return result


def format_report(results: list, args) -> str:
    """The Markdown report."""
    import onnxruntime
    import torch
    lines = [
        '# ONNX export on onnxruntime: latency, size, accuracy', '',
        f'Written by `tools/benchmark_onnx.py` on '
        f'{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; '
        f'{platform.processor() or platform.machine()}, '
        f'{os.cpu_count()} cores shared with other jobs, torch '
        f'{torch.__version__}, onnxruntime {onnxruntime.__version__}, '
        f'CPU execution provider, batch 1, every graph optimisation but '
        f'MatMulAddFusion. Latency: median over {args.rounds} interleaved '
        f'rounds of {args.runs_per_round} runs per variant (10 times as '
        'many for the Fashion-MNIST classifiers); speed-up and '
        'size relative to the FP32 ONNX file of the same model. Calibration: '
        f'{NUM_CALIBRATION} real Fashion-MNIST training images (seed 0) for '
        'clamp_mm (minmax observers, no search) and for onnxruntime\'s '
        '`quantize_static` alike; top-1 on all 10k test images. The '
        'process ran at `nice -n 10` on a machine shared with other jobs: '
        'the load (1, 5, 15-minute averages) is in every row; compare '
        'ratios within a model, not absolute times.', ''
    ]
    for threads in args.threads:
        lines += [f'## {threads} thread(s)', '',
                  '| model | variant | latency ms | speed-up | size MiB | '
                  'size ratio | kernels (int / float) | top-1 ONNX | '
                  'top-1 fake-quant | load before / after |',
                  '|---|---|---|---|---|---|---|---|---|---|']
        for result in results:
            base = result['variants']['FP32']
            for label, variant in result['variants'].items():
                latency = variant['latency_ms'][str(threads)]
                speed = base['latency_ms'][str(threads)] / latency
                top1 = variant.get('top1')
                fq = variant.get('fake_quant_top1')
                lines.append(
                    f"| {result['model']} | {label} | {latency:.2f} | "
                    f"{speed:.2f}x | {variant['file_bytes'] / 2**20:.2f} | "
                    f"{variant['file_bytes'] / base['file_bytes']:.3f} | "
                    f"{variant['kernels']} | "
                    f"{'-' if top1 is None else f'{top1:.2f}'} | "
                    f"{'-' if fq is None else f'{fq:.2f}'} | "
                    f"{result['load_before']} / {result['load_after']} |")
        lines.append('')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    choices = list(FMNIST_MODELS) + list(TIMM_MODELS)
    parser.add_argument('--models', nargs='+', default=choices,
                        choices=choices)
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--runs-per-round', type=int, default=10)
    parser.add_argument('--out', default='docs/benchmark_onnx.md')
    parser.add_argument('--work-dir', default=None,
                        help='where the ONNX files go (default: a '
                        'temporary folder)')
    args = parser.parse_args(argv)
    if any(count < 1 for count in args.threads):
        parser.error(f'--threads must be >= 1, got {args.threads}')
    return args


def main(argv=None):
    args = parse_args(argv)
    import torch

    import clamp_mm  # noqa: F401
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as temporary:
        work_dir = args.work_dir or temporary
        os.makedirs(work_dir, exist_ok=True)
        results = []
        for key in args.models:
            results.append(benchmark_model(key, args, work_dir))
            # Written after every model: a long run cut short keeps what
            # it measured.
            report = format_report(results, args)
            with open(args.out, 'w') as file:
                file.write(report)
            with open(osp.splitext(args.out)[0] + '.json', 'w') as file:
                json.dump(results, file, indent=1)
    print(report)


if __name__ == '__main__':
    main()
