"""clamp_mm.reconstruction: block-wise reconstruction after the observers.

Importing it registers ``clamp_mm.BlockReconstructionCalibrator`` and
``clamp_mm.SequentialCalibrator`` in ``clamp_mm.registry.CALIBRATORS``.
"""
from .calibrator import BlockReconstructionCalibrator
from .config import ReconstructionConfig
from .result import ReconstructionResult
from .sequential import SequentialCalibrator

__all__ = [
    'BlockReconstructionCalibrator', 'ReconstructionConfig',
    'ReconstructionResult', 'SequentialCalibrator'
]
