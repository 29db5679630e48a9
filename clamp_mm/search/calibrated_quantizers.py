"""The quantizers a calibration run (search or reconstruction) starts from."""
from typing import Dict

from torch import nn

from clamp_mm.quant.tensor_quantizer import TensorQuantizer, iter_quantizers


def calibrated_quantizers(model: nn.Module) -> Dict[str, TensorQuantizer]:
    """Every quantizer of ``model`` by name, checked to hold a calibration.

    Raises:
        ValueError: When no quantizer of ``model`` is calibrated (the
            observers have not run).
    """
    quantizers = dict(iter_quantizers(model))
    if not any(q.is_calibrated for q in quantizers.values()):
        raise ValueError('the model holds no calibrated quantizer: '
                         'quantize and calibrate it first (or pass a '
                         'recipe to calibrate)')
    return quantizers
