"""Where a dense model loses its W4/A4 accuracy: the default quantizer at
W4/A4 with one group of quant points kept at 8 bits (or switched off) at a
time, observers on 32 real training scenes (seed 0), scored on the validation
scenes of another composite build, so the test scenes are not read.

Make the held-out scenes once (seed 1 draws other layouts and objects than
the seed-0 build the models were trained and tested on)::

    python tools/make_composite_datasets.py --seed 1 --num-train 1 \\
        --num-val 250 --out-dir data/composite_holdout
    python tools/diagnose_dense_quant_points.py upernet \\
        --data-dir data/composite_holdout --out upernet.jsonl

One JSON line per row on stdout and in ``--out`` (appended). Bad input: one
line, exit status 2, nothing written.
"""
import argparse
import copy
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Rows: name -> QuantRecipe fields over the default quantizer at W4/A4.
ROWS = {
    'W4/A4 (default)': {},
    'W4/A8': dict(act_bits=8),
    'W8/A4': dict(weight_bits=8),
    'linear protocol': dict(protocol='linear'),
    'A8 Linear/Conv inputs': dict(overrides={'*.input_quantizer':
                                             dict(act_bits=8)}),
    'A8 attention (q k v score softmax attn@v)': dict(overrides={
        f'*.{point}_quantizer': dict(act_bits=8)
        for point in ('q', 'k', 'v', 'score', 'softmax')} | {
        '*.w_msa.output_quantizer': dict(act_bits=8)}),
    'A8 post-GELU (fc2 input)': dict(overrides={
        '*.ffn.layers.1.input_quantizer': dict(act_bits=8)}),
    'A8 block outputs': dict(overrides={
        '*.blocks.?.output_quantizer': dict(act_bits=8)}),
    'A8 patch-merging inputs': dict(overrides={
        '*.downsample.reduction.input_quantizer': dict(act_bits=8)}),
    'A8 patch-embedding input': dict(overrides={
        '*.patch_embed.projection.input_quantizer': dict(act_bits=8)}),
    'A8 stage 0': dict(overrides={'backbone.stages.0.*': dict(act_bits=8)}),
    'A8 stage 1': dict(overrides={'backbone.stages.1.*': dict(act_bits=8)}),
    'A8 stage 2': dict(overrides={'backbone.stages.2.*': dict(act_bits=8)}),
}
DENSE_MODELS = ('mask_rcnn', 'cascade_mask_rcnn', 'upernet')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('model', choices=DENSE_MODELS)
    parser.add_argument('--data-dir', required=True,
                        help='composite build whose validation scenes are '
                        'scored (not data/composite: its are the test set)')
    parser.add_argument('--rows', nargs='+', default=list(ROWS),
                        choices=list(ROWS), metavar='ROW',
                        help=f'rows to run (default all): {list(ROWS)}')
    parser.add_argument('--num-images', type=int, default=32,
                        help='real calibration scenes (default 32)')
    parser.add_argument('--out', required=True, help='JSON-lines file')
    args = parser.parse_args(argv)
    if osp.abspath(args.data_dir) == osp.abspath('data/composite'):
        parser.exit(2, f'{parser.prog}: --data-dir {args.data_dir}: that is '
                    'the test build; expected another composite build (see '
                    'the module docstring)\n')
    if not osp.isdir(args.data_dir):
        parser.exit(2, f'{parser.prog}: --data-dir {args.data_dir}: no such '
                    'folder; expected a tools/make_composite_datasets.py '
                    'build\n')
    if args.num_images < 1:
        parser.exit(2, f'{parser.prog}: --num-images {args.num_images}: '
                    'expected >= 1\n')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    import clamp_mm  # noqa: F401
    from clamp_mm.benchmark.tasks import (MODEL_SPECS, DenseTask,
                                          load_float_model)
    from clamp_mm.models import calibrate_observers, find_adapter
    from clamp_mm.quant import QuantRecipe
    torch.manual_seed(0)
    spec = MODEL_SPECS[args.model]
    fp_model, _ = load_float_model(spec)
    task = DenseTask(spec, data_dir=args.data_dir)
    images, _ = task.real_images(find_adapter(fp_model), args.num_images, 0)
    metric = spec.metrics[0]
    started = time.perf_counter()
    fp = task.evaluate(fp_model, find_adapter(fp_model))[metric]
    _emit(args.out, dict(model=args.model, row='FP', metric=metric,
                         value=fp, seconds=time.perf_counter() - started))
    for name in args.rows:
        started = time.perf_counter()
        fields = dict(dict(weight_bits=4, act_bits=4), **ROWS[name])
        model = copy.deepcopy(fp_model)
        adapter = find_adapter(model)
        calibrate_observers(model, QuantRecipe.from_dict(fields), images,
                            args.num_images, adapter)
        value = task.evaluate(model, adapter)[metric]
        _emit(args.out, dict(model=args.model, row=name, metric=metric,
                             value=value, delta=value - fp, fields=fields,
                             seconds=time.perf_counter() - started))


def _emit(path: str, record: dict) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    with open(path, 'a') as file:
        file.write(line + '\n')


if __name__ == '__main__':
    main()
