"""Recount the size and BOPs of recorded benchmark cells.

A cell's cost depends only on the model's layers and the bit-widths the
cell recorded, not on its calibration, so it can be counted again without
rerunning the cell: after a change to how costs are counted, the reports
of earlier runs are brought in line with new runs this way.
"""
from typing import Dict, Optional

from torch import nn

from clamp_mm.pipeline import float_cost_report, swapped_cost_report
from .methods import SETTINGS, recipe_at_bits
from .tasks import MODEL_SPECS, load_float_model


def quantized_cost(fp_model: nn.Module, record: dict, resolution,
                   quantizer: Optional[dict] = None) -> dict:
    """The cost of a quantized cell: its setting's bits, or the per-layer
    weight bits a mixed-precision cell recorded, under the run's quantizer
    fields ``quantizer`` (None: the default quantizer)."""
    weight_bits, act_bits = SETTINGS[record['setting']]
    per_layer = record.get('weight_bits_per_layer') or {}
    fields = dict(quantizer or {})
    if per_layer:
        fields['overrides'] = {layer: dict(weight_bits=bits)
                               for layer, bits in per_layer.items()}
    recipe = recipe_at_bits(fields, weight_bits, act_bits)
    return swapped_cost_report(fp_model, recipe, resolution)


def recount_costs(payload: dict) -> int:
    """Replace the ``cost`` of every record of ``payload`` in place.

    Args:
        payload (dict): Benchmark results (``records`` of known models).

    Returns:
        int: Number of records recounted.
    """
    models: Dict[str, nn.Module] = {}
    for record in payload['records']:
        spec = MODEL_SPECS[record['model']]
        if spec.key not in models:
            # Shapes decide the counts: the weights need not be loaded.
            models[spec.key] = load_float_model(spec,
                                                allow_random_init=True)[0]
        fp_model = models[spec.key]
        if record['method'] == 'fp':
            record['cost'] = float_cost_report(fp_model, spec.resolution)
        else:
            record['cost'] = quantized_cost(fp_model, record,
                                            spec.resolution,
                                            run_quantizer(payload))
    return len(payload['records'])


def run_quantizer(payload: dict) -> dict:
    """The QuantRecipe fields a recorded run quantized with: its
    ``--quantizer-option`` fields, and for runs recorded before
    ``patch_embed_input_bits`` existed, the image at the activation bits
    (how those runs quantized it)."""
    run = payload.get('run', {})
    fields = dict(run.get('config', {}).get('quantizer') or {})
    recipe = run.get('quantizer_recipe')
    if recipe and 'patch_embed_input_bits' not in recipe:
        fields.setdefault('patch_embed_input_bits', None)
    return fields
