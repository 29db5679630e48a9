"""The anchor: onnxruntime's own static quantization of the float model."""
from typing import Iterable

import numpy as np


class _ImagesReader:
    """onnxruntime CalibrationDataReader over a list of image batches."""

    def __init__(self, input_name: str, batches: Iterable[np.ndarray]):
        self._feeds = iter([{input_name: np.ascontiguousarray(batch)}
                            for batch in batches])

    def get_next(self):
        return next(self._feeds, None)

    def rewind(self):  # pragma: no cover - not called by MinMax
        raise NotImplementedError


def ort_quantize_static(fp32_path: str, out_path: str,
                        calibration_images: np.ndarray,
                        per_channel: bool = True) -> str:
    """Quantize a float ONNX file with ``onnxruntime.quantization``.

    QDQ format, int8 symmetric weights (per channel), uint8 activations,
    MinMax calibration: onnxruntime's recommended CPU setting, run on the
    given images one at a time (the file's batch size).

    Args:
        fp32_path (str): Float ONNX file.
        out_path (str): Quantized ONNX file.
        calibration_images (np.ndarray): (N, 3, H, W) normalised float32
            images.
        per_channel (bool): Per-channel weights. Defaults to True.

    Returns:
        str: ``out_path``.
    """
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    session = ort.InferenceSession(fp32_path,
                                   providers=['CPUExecutionProvider'])
    model_input = session.get_inputs()[0]
    batch = model_input.shape[0] if isinstance(model_input.shape[0],
                                               int) else 1
    batches = [calibration_images[start:start + batch]
               for start in range(0, len(calibration_images) - batch + 1,
                                  batch)]
    quantize_static(fp32_path, out_path,
                    _ImagesReader(model_input.name, batches),
                    quant_format=QuantFormat.QDQ,
                    per_channel=per_channel,
                    weight_type=QuantType.QInt8,
                    activation_type=QuantType.QUInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    return out_path
