"""Check an exported model in onnxruntime beside the fake-quant PyTorch model.

    python tools/check_onnx.py CONFIG WORK_DIR/quantized_model.pth
    python tools/check_onnx.py CONFIG QUANTIZED_MODEL --onnx model.onnx --num-test 1000

Exports the quantized model and its float counterpart (the same model with
every quantizer off) to ONNX unless ``--onnx`` / ``--fp32-onnx`` name
existing files, then prints side by side for the fake-quant PyTorch model,
the FP32 ONNX file and the quantized ONNX file: the task metric on the
config's test split (top-1; bbox/segm mAP or mIoU with the backbone in
onnxruntime and neck and heads in PyTorch), batch-1 latency at each
``--threads`` count (interleaved rounds, medians), file size, and the
integer against float matmul/conv kernels of the graph onnxruntime runs.
Bad input: one line on stderr, exit status 2.
"""
import argparse
import copy
import os.path as osp
import subprocess
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

EXIT_BAD_INPUT = 2


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run an exported quantized model in onnxruntime beside '
        'the fake-quant PyTorch model and the FP32 ONNX export')
    parser.add_argument('config', help='the config the model was quantized '
                        'with')
    parser.add_argument('quantized', help='quantized_model.pth written by '
                        'tools/quantize.py')
    parser.add_argument('--onnx', help='the quantized ONNX file (default: '
                        'exported to WORK_DIR/quantized.onnx)')
    parser.add_argument('--fp32-onnx', help='the float ONNX file (default: '
                        'exported to WORK_DIR/fp32.onnx)')
    parser.add_argument('--work-dir', default=None,
                        help='where exported files go (default: the '
                        'quantized model\'s folder)')
    parser.add_argument('--input-size', type=int, nargs=2, default=None,
                        metavar=('H', 'W'),
                        help='input resolution fixed in the graph (default: '
                        'the model\'s; a detector\'s test images must all '
                        'have it after padding)')
    parser.add_argument('--num-test', type=int, default=None,
                        help='first N test images (default: all)')
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2],
                        help='thread counts timed (default 1 2)')
    parser.add_argument('--rounds', type=int, default=5,
                        help='interleaved timing rounds (default 5)')
    parser.add_argument('--runs-per-round', type=int, default=10,
                        help='timed calls per model and round (default 10)')
    return parser.parse_args(argv)


def fail(message: str) -> None:
    """Report bad input in one line and exit with status 2."""
    print(f'check_onnx.py: error: {message}', file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)


def check_args(args: argparse.Namespace) -> None:
    """One-line failures before anything runs."""
    for label, path in (('config', args.config),
                        ('quantized model', args.quantized),
                        ('--onnx', args.onnx),
                        ('--fp32-onnx', args.fp32_onnx)):
        if path is not None and not osp.isfile(path):
            fail(f'{label} file {path} does not exist')
    if args.input_size is not None and min(args.input_size) < 1:
        fail(f'--input-size must be positive, got {args.input_size}')
    if args.num_test is not None and args.num_test < 1:
        fail(f'--num-test must be >= 1, got {args.num_test}')
    if any(count < 1 for count in args.threads):
        fail(f'--threads must be >= 1, got {args.threads}')
    if args.rounds < 1 or args.runs_per_round < 1:
        fail('--rounds and --runs-per-round must be >= 1, got '
             f'{args.rounds} and {args.runs_per_round}')


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
    from clamp_mm.deploy.check import check_model, format_rows
    from clamp_mm.deploy.loading import load_quantized_model
    from clamp_mm.deploy.onnx_export import export_onnx, exportable_module
    from clamp_mm.models import find_adapter
    from clamp_mm.quant import set_quant_mode
    torch.set_num_threads(1)
    try:
        cfg, model, content = load_quantized_model(args.config,
                                                   args.quantized)
    except (ValueError, TypeError, KeyError) as error:
        fail(' '.join(str(error).split()))
    adapter = find_adapter(model)
    example = torch.randn(1, 3, *(args.input_size or adapter.input_size))
    exported = exportable_module(model)
    work_dir = args.work_dir or osp.dirname(osp.abspath(args.quantized))
    quantized_onnx = args.onnx or osp.join(work_dir, 'quantized.onnx')
    fp32_onnx = args.fp32_onnx or osp.join(work_dir, 'fp32.onnx')
    if args.onnx is None:
        print(export_onnx(exported, example, quantized_onnx).summary())
    if args.fp32_onnx is None:
        float_module = set_quant_mode(copy.deepcopy(exported), 'off')
        export_onnx(float_module, example, fp32_onnx)
    recipe = content['recipe']
    label = f'W{recipe["weight_bits"]}/A{recipe["act_bits"]} ONNX'
    rows = check_model(cfg, model, exported, example,
                       {'FP32 ONNX': fp32_onnx, label: quantized_onnx},
                       quantized_file=args.quantized, num_test=args.num_test,
                       threads=args.threads, rounds=args.rounds,
                       runs_per_round=args.runs_per_round)
    load = subprocess.run(['uptime'], capture_output=True, text=True).stdout
    print(format_rows(rows, reference='FP32 ONNX'))
    print(f'batch 1; latency ratios against FP32 ONNX; machine load: '
          f'{load.strip()}')
    return rows


if __name__ == '__main__':
    main()
