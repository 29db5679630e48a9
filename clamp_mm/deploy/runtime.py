"""onnxruntime sessions that reach the integer kernels, and what ran."""
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence

import numpy as np

#: Graph optimisations left out of every session: MatMulAddFusion turns
#: MatMul + Add into Gemm before the QDQ fusion runs and so breaks the
#: DequantizeLinear -> MatMul pattern (a W8/A8 model then runs slower than
#: float; measured in docs/benchmark_onnx.md).
DISABLED_OPTIMIZERS = ('MatMulAddFusion', )
#: Kernels of the optimised graph that multiply integers.
INTEGER_KERNELS = ('QLinearMatMul', 'MatMulInteger', 'MatMulIntegerToFloat',
                   'DynamicQuantizeMatMul', 'QLinearConv', 'ConvInteger',
                   'QGemm', 'QAttention', 'MatMulNBits', 'QLinearConvTranspose')
#: Kernels of the optimised graph that multiply floats.
FLOAT_KERNELS = ('MatMul', 'Gemm', 'Conv', 'FusedMatMul', 'FusedGemm',
                 'FusedConv', 'ConvTranspose', 'Attention',
                 'MultiHeadAttention', 'NhwcFusedConv')


def session_options(threads: int = 1, optimized_model_path: str = ''):
    """Session options: ``threads`` intra-op threads, one inter-op,
    every graph optimisation, optionally saving the optimised graph."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = \
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if optimized_model_path:
        options.optimized_model_filepath = optimized_model_path
    return options


def create_session(path: str,
                   threads: int = 1,
                   optimized_model_path: str = '',
                   disabled_optimizers: Sequence[str] = DISABLED_OPTIMIZERS):
    """A CPU session for ``path`` that fuses QDQ into integer kernels.

    Args:
        path (str): ONNX file.
        threads (int): Intra-op threads. Defaults to 1.
        optimized_model_path (str): Where to save the optimised graph
            (for :func:`count_kernels`). Defaults to ``''`` (not saved).
        disabled_optimizers (Sequence[str]): onnxruntime optimisers to
            leave out. Defaults to :data:`DISABLED_OPTIMIZERS`.

    Returns:
        onnxruntime.InferenceSession: The session.
    """
    import onnxruntime as ort
    return ort.InferenceSession(
        path,
        session_options(threads, optimized_model_path),
        providers=['CPUExecutionProvider'],
        disabled_optimizers=list(disabled_optimizers))


@dataclass
class KernelCount:
    """Matrix-multiply kernels of an optimised graph.

    Args:
        integer (int): Integer matmul/conv kernels.
        float (int): Float matmul/conv kernels.
        by_op (dict[str, int]): Count of every op type of the graph.
    """
    integer: int = 0
    float: int = 0
    by_op: Dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return f'{self.integer} int / {self.float} float'


def count_kernels(path: str,
                  threads: int = 1,
                  disabled_optimizers: Sequence[str] = DISABLED_OPTIMIZERS
                  ) -> KernelCount:
    """Optimise ``path`` as :func:`create_session` does and count kernels.

    Args:
        path (str): ONNX file.
        threads (int): Intra-op threads of the session. Defaults to 1.
        disabled_optimizers (Sequence[str]): See :func:`create_session`.

    Returns:
        KernelCount: Integer and float matmul/conv kernels of the graph
        onnxruntime runs.
    """
    import onnx
    with tempfile.TemporaryDirectory() as directory:
        optimized = os.path.join(directory, 'optimized.onnx')
        create_session(path, threads, optimized, disabled_optimizers)
        graph = onnx.load(optimized, load_external_data=False).graph
        ops = Counter(node.op_type for node in graph.node)
    return KernelCount(
        integer=sum(ops[name] for name in INTEGER_KERNELS),
        float=sum(ops[name] for name in FLOAT_KERNELS),
        by_op=dict(ops))


def input_feed(session, array: np.ndarray) -> Dict[str, np.ndarray]:
    """``{input name: array}`` for a one-input session."""
    return {session.get_inputs()[0].name: np.ascontiguousarray(array)}


def predict_classes(session, images: np.ndarray,
                    batch_size: Optional[int] = None) -> np.ndarray:
    """Arg-max class of every image, run at the session's batch size.

    Args:
        session (onnxruntime.InferenceSession): A classifier's session
            (first output: logits).
        images (np.ndarray): Normalised images (N, 3, H, W), float32.
        batch_size (int, optional): Images per run; defaults to the
            model's fixed batch dimension (or all images when dynamic).

    Returns:
        np.ndarray: (N,) predicted classes.
    """
    shape = session.get_inputs()[0].shape
    if batch_size is None:
        batch_size = shape[0] if isinstance(shape[0], int) else len(images)
    predictions = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        count = len(batch)
        if count < batch_size:  # pad the last batch to the fixed size
            padding = np.zeros((batch_size - count, ) + batch.shape[1:],
                               batch.dtype)
            batch = np.concatenate([batch, padding])
        logits = session.run(None, input_feed(session, batch))[0]
        predictions.append(np.asarray(logits)[:count].argmax(-1))
    return np.concatenate(predictions)
