"""clamp_mm.quant: a small eager-mode fake-quantization library.

Pure PyTorch; knows nothing of mmengine runners or of CLAMP. Importing it
registers the observers in ``clamp_mm.registry.OBSERVERS`` and the
quantizer types in ``clamp_mm.registry.QUANTIZERS``.
"""
from .api import quantize, register_adapter_finder
from .attention import ATTENTION_QUANTIZER_NAMES, QuantAttentionMixin
from .factory import QuantizerFactory
from .layernorm_fold import fold_channel_quantization, per_tensor_target
from .layernorm_reparam import LayerNormReparamQuantizer
from .modules import QuantConv2d, QuantLinear
from .observers import (OBSERVER_NAMES, BaseObserver, MinMaxObserver,
                        OmseObserver, PercentileObserver, build_observer)
from .power_of_two_factor import PowerOfTwoFactorQuantizer
from .presets import PRESETS
from .primitives import (MIN_SCALE, calculate_qparams, fake_quantize,
                         integer_range, log2_fake_quantize, log_fake_quantize,
                         round_ste, twin_uniform_fake_quantize)
from .protocols import PROTOCOLS
from .quantizer_types import (QUANTIZER_TYPE_POINTS,
                              build_activation_quantizer)
from .recipe import ATTENTION_POINTS, QUANT_POINTS, QuantRecipe
from .report import (FLOAT_BITS, LayerCost, ModelCost, model_cost,
                     model_size_bits, quant_summary)
from .tensor_quantizer import (QUANT_MODES, QUANTIZER_KINDS, TensorQuantizer,
                               iter_quantizers, set_quant_mode)
from .transform import (apply_overrides, attach_output_quantizer, clone_as,
                        replace_module, swap_linear_and_conv)
from .twin_uniform import TwinUniformQuantizer

__all__ = [
    'apply_overrides', 'attach_output_quantizer', 'ATTENTION_POINTS',
    'ATTENTION_QUANTIZER_NAMES', 'BaseObserver', 'build_observer',
    'calculate_qparams', 'clone_as', 'fake_quantize', 'FLOAT_BITS',
    'integer_range', 'iter_quantizers', 'LayerCost', 'log2_fake_quantize',
    'MIN_SCALE', 'MinMaxObserver', 'model_cost', 'model_size_bits',
    'ModelCost', 'OBSERVER_NAMES', 'OmseObserver', 'PercentileObserver',
    'QUANT_MODES', 'QUANT_POINTS', 'quant_summary', 'QuantAttentionMixin',
    'QuantConv2d', 'quantize', 'QUANTIZER_KINDS', 'QuantizerFactory',
    'QuantLinear', 'QuantRecipe', 'register_adapter_finder',
    'replace_module', 'round_ste',
    'set_quant_mode', 'swap_linear_and_conv', 'TensorQuantizer',
    'build_activation_quantizer', 'fold_channel_quantization',
    'LayerNormReparamQuantizer', 'log_fake_quantize', 'per_tensor_target',
    'PowerOfTwoFactorQuantizer', 'PRESETS', 'PROTOCOLS',
    'QUANTIZER_TYPE_POINTS', 'twin_uniform_fake_quantize',
    'TwinUniformQuantizer'
]
