"""An onnxruntime session behind a PyTorch module's forward."""
from typing import Tuple, Union

import numpy as np
import torch
from torch import nn


class OnnxModule(nn.Module):
    """Runs an ONNX graph in onnxruntime where a module used to run.

    Lets a detector or segmentor keep its float neck and heads while its
    backbone runs in onnxruntime, and lets a classifier be scored by the
    same code as the PyTorch model. A batch larger than the graph's fixed
    batch size is run in chunks (the last one padded).

    Args:
        session (onnxruntime.InferenceSession): A one-input session.
    """

    def __init__(self, session) -> None:
        super().__init__()
        self.session = session
        self.input_name = session.get_inputs()[0].name
        batch = session.get_inputs()[0].shape[0]
        self.batch_size = batch if isinstance(batch, int) else None

    def _run(self, images: np.ndarray) -> list:
        return self.session.run(None, {self.input_name: images})

    def forward(self, images: torch.Tensor
                ) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        array = np.ascontiguousarray(images.detach().cpu().float().numpy())
        size = self.batch_size or len(array)
        chunks = []
        for start in range(0, len(array), size):
            chunk = array[start:start + size]
            count = len(chunk)
            if count < size:
                padding = np.zeros((size - count, ) + chunk.shape[1:],
                                   chunk.dtype)
                chunk = np.concatenate([chunk, padding])
            chunks.append([output[:count] for output in self._run(chunk)])
        outputs = tuple(
            torch.from_numpy(np.concatenate([chunk[i] for chunk in chunks]))
            for i in range(len(chunks[0])))
        return outputs[0] if len(outputs) == 1 else outputs
