"""The quantizer types a recipe can put at a quant point, by short name.

``'uniform'`` (:class:`TensorQuantizer`, any point), ``'log2'`` and
``'log_sqrt2'`` (logarithmic levels, softmax), ``'twin_uniform'``
(:class:`TwinUniformQuantizer`, softmax and post-GELU) and ``'ptf'``
(:class:`PowerOfTwoFactorQuantizer`, block outputs). Each is registered in
``clamp_mm.registry.QUANTIZERS``.
"""
from typing import Dict, Optional, Tuple

from torch import nn

from clamp_mm.registry import QUANTIZERS
from .power_of_two_factor import PowerOfTwoFactorQuantizer  # noqa: F401
from .tensor_quantizer import TensorQuantizer  # noqa: F401
from .twin_uniform import TwinUniformQuantizer  # noqa: F401

QUANTIZERS.register_module(module=TensorQuantizer, force=True)

#: Quant points each quantizer type may sit at.
QUANTIZER_TYPE_POINTS: Dict[str, Tuple[str, ...]] = {
    'uniform': ('weight', 'input', 'q', 'k', 'v', 'score', 'softmax',
                'attn_output', 'post_gelu', 'block_output'),
    'log2': ('softmax', ),
    'log_sqrt2': ('softmax', ),
    'twin_uniform': ('softmax', 'post_gelu'),
    'ptf': ('block_output', ),
}


def build_activation_quantizer(type_name: str, point: str, bits: int,
                               observer: dict,
                               num_channels: Optional[int] = None
                               ) -> nn.Module:
    """An activation quantizer of a registered type.

    Args:
        type_name (str): A key of :data:`QUANTIZER_TYPE_POINTS`.
        point (str): The quant point (validated against the type).
        bits (int): Bit-width.
        observer (dict): Observer config.
        num_channels (int, optional): Channels of the tensor (needed by
            ``'ptf'``). Defaults to None.

    Returns:
        nn.Module: The quantizer, its class looked up in ``QUANTIZERS``.

    Raises:
        ValueError: When the type is unknown or does not fit the point.
    """
    if type_name not in QUANTIZER_TYPE_POINTS:
        raise ValueError(f'unknown quantizer type {type_name!r}; expected '
                         f'one of {sorted(QUANTIZER_TYPE_POINTS)}')
    allowed = QUANTIZER_TYPE_POINTS[type_name]
    if point not in allowed:
        raise ValueError(f'quantizer type {type_name!r} cannot quantize '
                         f'point {point!r}; it fits {list(allowed)}')
    cfg = dict(bits=bits, observer=observer, point=point)
    if type_name in ('uniform', 'log2', 'log_sqrt2'):
        cfg.update(type='clamp_mm.TensorQuantizer', kind=type_name)
    elif type_name == 'twin_uniform':
        cfg.update(type='clamp_mm.TwinUniformQuantizer',
                   signed=point == 'post_gelu')
    else:
        if num_channels is None:
            raise ValueError(f'quantizer type {type_name!r} at {point!r} '
                             'needs the channel count; the adapter gave none')
        cfg.update(type='clamp_mm.PowerOfTwoFactorQuantizer',
                   num_channels=num_channels)
    quantizer_cls = QUANTIZERS.get(cfg.pop('type'))
    return quantizer_cls(**cfg)
