"""Shared test set-up: one thread (the CI box has 2 cores), clamp_mm imported."""
import torch

import clamp_mm  # noqa: F401  applies the compatibility patches

torch.set_num_threads(1)
