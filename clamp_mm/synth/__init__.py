"""clamp_mm.synth: stage 1, calibration images from the FP model alone.

Importing this package registers the generators (``GENERATORS``) and the
synthetic dataset (``DATASETS``).
"""
from .base_generator import BaseGenerator
from .clamp_generator import ClampGenerator
from .dataset import SyntheticImageDataset, model_identity
from .gaussian import GaussianGenerator
from .optimising_generator import NonFiniteLossError, OptimisingGenerator
from .psaq_generators import PSAQv1Generator, PSAQv2Generator
from .psaq_v1_official import PSAQv1OfficialGenerator
from .real_data import RealDataGenerator
from .taps import TokenGridCollector

__all__ = [
    'BaseGenerator', 'ClampGenerator', 'GaussianGenerator',
    'NonFiniteLossError', 'OptimisingGenerator', 'PSAQv1Generator',
    'PSAQv1OfficialGenerator', 'PSAQv2Generator', 'RealDataGenerator', 'SyntheticImageDataset',
    'TokenGridCollector', 'model_identity'
]
