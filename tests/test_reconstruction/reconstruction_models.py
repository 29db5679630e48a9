"""Tiny quantized models for the reconstruction tests (the search tests'
factories, one per adapter family)."""
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(__file__)),
                            'test_search'))

from search_models import FACTORIES, build_tiny, quantized_tiny  # noqa: E402,E501

#: W4/A4 with the default quantizer (preset clamp_full).
W4A4 = dict(weight_bits=4, act_bits=4)

__all__ = ['FACTORIES', 'W4A4', 'build_tiny', 'quantized_tiny']
