"""clamp_mm.datasets."""
from .composite_seg_dataset import CompositeADE20KDataset  # noqa: F401
from .fashion_mnist import FashionMNIST, load_fashion_mnist_images  # noqa: F401
