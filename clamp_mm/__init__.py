"""clamp_mm: data-free post-training quantization of vision transformers.

CLAMP-ViT (ECCV 2024) as an OpenMMLab extension. Importing the package applies
the torch 2.14 compatibility patches of :mod:`clamp_mm.compat`.
"""
from clamp_mm import compat

compat.apply_all()

__version__ = '0.1.0'
