"""clamp_mm.datasets."""
from .composite_seg_dataset import CompositeADE20KDataset  # noqa: F401
