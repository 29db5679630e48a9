"""clamp_mm: data-free post-training quantization of vision transformers.

CLAMP-ViT (ECCV 2024) as an OpenMMLab extension. Importing the package applies
the torch 2.14 compatibility patches of :mod:`clamp_mm.compat`; the API
(:func:`quantize_model`, :func:`quantize`, :class:`QuantLoopConfig`,
:class:`QuantizationResult`) is imported from :mod:`clamp_mm.pipeline` on
first use, so ``import clamp_mm`` stays light.
"""
import importlib

from clamp_mm import compat

compat.apply_all()

__version__ = '0.1.0'

#: Names served from clamp_mm.pipeline.
_API_NAMES = ('quantize', 'quantize_model', 'QuantLoopConfig',
              'QuantizationResult')


def __getattr__(name: str):
    if name in _API_NAMES:
        return getattr(importlib.import_module('clamp_mm.pipeline'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def __dir__():
    return sorted(list(globals()) + list(_API_NAMES))
