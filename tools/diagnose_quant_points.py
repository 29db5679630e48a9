"""Which quant points cost a classifier its W8/A8 accuracy: the min-max
recipe with one group of quant points switched off at a time, 32 real images
(seed 0, outside the validation split), top-1 on the first 2,000 images of
the validation split. One JSON line per row on stdout.

Usage: python tools/diagnose_quant_points.py [MODEL]   (default timm_vit)

Bad input: one line on stderr, exit status 2.
"""
import copy
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import clamp_mm  # noqa: F401,E402
from clamp_mm.benchmark.ablation import (evaluation_images,
                                         real_calibration_images, top1)
from clamp_mm.benchmark.tasks import MODEL_SPECS, load_float_model
from clamp_mm.models import find_adapter
from clamp_mm.quant import QuantRecipe, quantize

model_key = sys.argv[1] if len(sys.argv) > 1 else 'timm_vit'
classifiers = [k for k, s in MODEL_SPECS.items() if s.task == 'classification']
if len(sys.argv) > 2 or model_key not in classifiers:
    print(f'diagnose_quant_points.py: error: unknown classifier '
          f'{model_key!r}; expected one of {classifiers}', file=sys.stderr)
    sys.exit(2)
fp_model, _ = load_float_model(MODEL_SPECS[model_key])
adapter = find_adapter(fp_model)
images, labels = evaluation_images(adapter, 'val', 2000)
fp = top1(adapter, images, labels)
calibration = real_calibration_images(adapter, 32, 0)
print(model_key, 'FP', fp, flush=True)
rows = {
    'minmax full': {},
    'minmax linear': dict(protocol='linear'),
    'no attention points': dict(quantize_attention=False),
    'no post_gelu': dict(quantize_post_gelu=False),
    'no block_output': dict(quantize_block_output=False),
    'no patch_embed': dict(quantize_patch_embed=False),
    'weights only (no activation point but Linear inputs)': dict(
        quantize_attention=False, quantize_post_gelu=False,
        quantize_block_output=False),
}
for name, fields in rows.items():
    recipe = QuantRecipe.from_dict(dict(preset='minmax', weight_bits=8,
                                        act_bits=8, **fields))
    model = copy.deepcopy(fp_model)
    quant_adapter = find_adapter(model)
    quantize(model, recipe, lambda _: quant_adapter.forward_images(
        calibration), quant_adapter)
    accuracy = top1(quant_adapter, images, labels)
    print(json.dumps(dict(model=model_key, row=name, top1=accuracy,
                          delta=accuracy - fp)), flush=True)
