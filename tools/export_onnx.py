"""Export a quantized model saved by tools/quantize.py to ONNX (QDQ).

    python tools/export_onnx.py CONFIG WORK_DIR/quantized_model.pth --out model.onnx
    python tools/export_onnx.py CONFIG CHECKPOINT --float --out fp32.onnx

A classifier is exported whole (normalised images to logits); a detector or
segmentor as its quantized backbone (images to feature maps; neck and heads
stay float in PyTorch, the papers' protocol). Uniform quantizers become
QuantizeLinear/DequantizeLinear and the weights int8 initializers; every
quant point without integer form (log2 softmax ...) is listed with how it
was exported. ``--float`` exports the config's float model from a float
checkpoint instead. Bad input: one line on stderr, exit status 2, nothing
written.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

EXIT_BAD_INPUT = 2


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a clamp_mm quantized model to ONNX with '
        'QuantizeLinear/DequantizeLinear')
    parser.add_argument('config', help='the config the model was quantized '
                        'with')
    parser.add_argument('checkpoint', help='quantized_model.pth written by '
                        'tools/quantize.py (with --float: a float checkpoint)')
    parser.add_argument('--out', required=True, help='the .onnx file')
    parser.add_argument('--float', action='store_true',
                        help='export the float model of a float checkpoint')
    parser.add_argument('--batch-size', type=int, default=1,
                        help='batch size fixed in the graph (default 1)')
    parser.add_argument('--input-size', type=int, nargs=2, default=None,
                        metavar=('H', 'W'),
                        help='input resolution (default: the model\'s)')
    parser.add_argument('--opset', type=int, default=20,
                        help='ONNX opset (default 20)')
    parser.add_argument(
        '--require-integer', action='store_true',
        help='fail instead of exporting when a quant point cannot reach '
        'integer kernels (float-only quantizer kinds, asymmetric weights)')
    return parser.parse_args(argv)


def fail(message: str) -> None:
    """Report bad input in one line and exit with status 2."""
    print(f'export_onnx.py: error: {message}', file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def check_args(args: argparse.Namespace) -> None:
    """One-line failures for input that is wrong before anything runs."""
    for label, path in (('config', args.config),
                        ('checkpoint', args.checkpoint)):
        if not osp.isfile(path):
            fail(f'{label} file {path} does not exist')
    if not args.out.endswith('.onnx'):
        fail(f'--out must be a .onnx file, got {args.out}')
    if args.batch_size < 1:
        fail(f'--batch-size must be >= 1, got {args.batch_size}')
    if args.opset not in (20, 21):
        fail(f'--opset must be one of [20, 21], got {args.opset}')
    if args.input_size is not None and min(args.input_size) < 1:
        fail(f'--input-size must be positive, got {args.input_size}')


def load_model(args: argparse.Namespace):
    """The model to export, its adapter and the example input."""
    import torch
    from mmengine.runner import load_checkpoint

    from clamp_mm.deploy.loading import (build_float_model,
                                         load_quantized_model)
    from clamp_mm.deploy.onnx_export import exportable_module
    from clamp_mm.models import find_adapter
    try:
        if args.float:
            _, model = build_float_model(args.config)
            load_checkpoint(model, args.checkpoint, map_location='cpu',
                            logger='silent')
        else:
            _, model, _ = load_quantized_model(args.config, args.checkpoint)
    except (ValueError, TypeError, KeyError) as error:
        fail(' '.join(str(error).split()))
    adapter = find_adapter(model)
    height, width = args.input_size or adapter.input_size
    example = torch.randn(args.batch_size, 3, height, width)
    return exportable_module(model), example


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    import torch

    import clamp_mm  # noqa: F401
    from clamp_mm.deploy import require_deploy_packages
    try:
        require_deploy_packages()
    except ImportError as error:
        fail(str(error))
    from clamp_mm.deploy.onnx_export import export_onnx
    if os.environ.get('CLAMP_NUM_THREADS'):
        torch.set_num_threads(int(os.environ['CLAMP_NUM_THREADS']))
    module, example = load_model(args)
    try:
        report = export_onnx(module, example, args.out, opset=args.opset,
                             require_integer=args.require_integer)
    except ValueError as error:
        fail(' '.join(str(error).split()))
    print(report.summary())
    return report


if __name__ == '__main__':
    main()
