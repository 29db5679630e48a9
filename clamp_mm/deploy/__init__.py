"""clamp_mm.deploy: quantized models as ONNX files on integer kernels.

Exports a calibrated clamp_mm model (whole classifier, or the quantized
backbone of a detector or segmentor) to ONNX with QuantizeLinear /
DequantizeLinear, its weights folded into int8 initializers, and runs it in
onnxruntime. Needs the ``deploy`` extra (``pip install -e .[deploy]``:
onnx, onnxscript, onnxruntime); ``import clamp_mm`` does not.
"""
from .quant_points import QuantPointExport, describe_quant_points
from .requirements import require_deploy_packages

__all__ = [
    'QuantPointExport', 'describe_quant_points', 'export_onnx',
    'ExportReport', 'exportable_module', 'create_session', 'count_kernels',
    'require_deploy_packages'
]


def __getattr__(name):
    # The onnx-based parts are imported on first use, so that listing the
    # quant points works without the deploy extra.
    if name in ('export_onnx', 'ExportReport', 'exportable_module'):
        from . import onnx_export
        return getattr(onnx_export, name)
    if name in ('create_session', 'count_kernels'):
        from . import runtime
        return getattr(runtime, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
