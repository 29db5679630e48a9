"""Export a quantized model to ONNX with QuantizeLinear/DequantizeLinear."""
import json
import os
import os.path as osp
import warnings
from dataclasses import dataclass, field
from typing import List, Sequence, Tuple, Union

import torch
from torch import nn

from clamp_mm.quant.export_mode import export_mode

from .quant_points import QuantPointExport, describe_quant_points

#: ONNX opset written: 8-bit QuantizeLinear/DequantizeLinear per channel
#: and LayerNormalization are all in it.
DEFAULT_OPSET = 20
#: Key of the ONNX metadata entry listing the quant points.
QUANT_POINTS_METADATA = 'clamp_mm.quant_points'


@dataclass
class ExportReport:
    """What :func:`export_onnx` wrote.

    Args:
        path (str): The ONNX file.
        quant_points (list[QuantPointExport]): Every active quantizer and
            how it was exported.
        file_bytes (int): Size of the file.
        folded_weights (int): Weights stored as integer initializers.
    """
    path: str
    quant_points: List[QuantPointExport] = field(default_factory=list)
    file_bytes: int = 0
    folded_weights: int = 0

    @property
    def float_points(self) -> List[QuantPointExport]:
        """Quant points not expressed in integer form."""
        return [entry for entry in self.quant_points if not entry.integer]

    @property
    def noted_points(self) -> List[QuantPointExport]:
        """Quant points with a note (asymmetric weights ...)."""
        return [entry for entry in self.quant_points if entry.note]

    def summary(self) -> str:
        """A few lines: counts, then every point not on integer kernels."""
        integer = len(self.quant_points) - len(self.float_points)
        lines = [
            f'{self.path}: {self.file_bytes / 2**20:.2f} MiB, '
            f'{integer} of {len(self.quant_points)} quant points as integer '
            f'QDQ, {self.folded_weights} weights as integer initializers'
        ]
        for entry in self.quant_points:
            if entry.note or not entry.integer:
                lines.append(f'  {entry.name} ({entry.point}, '
                             f'{entry.bits} bits): {entry.exported_as}'
                             f'{"; " + entry.note if entry.note else ""}')
        return '\n'.join(lines)


class ImagesForward(nn.Module):
    """A model's forward on normalised images, as its adapter runs it.

    mmpretrain classifiers take ``mode='tensor'``, mmdet/mmseg models
    contribute only their backbone: this gives ``torch.export`` one
    ``forward(images)`` for every family.

    Args:
        model (nn.Module): The model (a registered child, so its
            parameters and buffers are exported).
        adapter (clamp_mm.models.ModelAdapter): Its adapter.
    """

    def __init__(self, model: nn.Module, adapter) -> None:
        super().__init__()
        self.model = model
        # Not a module: kept out of the module tree.
        self.__dict__['adapter'] = adapter

    def forward(self, images: torch.Tensor):
        outputs = self.adapter.forward_images(images)
        if isinstance(outputs, (list, tuple)):
            return tuple(outputs)
        return outputs


def exportable_module(model: nn.Module) -> nn.Module:
    """What to export of ``model``: the classifier whole, else the backbone.

    A classifier (its adapter's ``has_head``) is exported from images to
    logits; a detector or segmentor only as its (quantized) backbone, to
    its feature maps: the papers' protocol leaves neck and heads in float.

    Args:
        model (nn.Module): A model a clamp_mm adapter understands.

    Returns:
        nn.Module: A module whose ``forward(images)`` is the exported graph.
    """
    from clamp_mm.models import find_adapter
    adapter = find_adapter(model)
    module = ImagesForward(model, adapter) if adapter.has_head else \
        adapter.backbone()
    module.eval()  # OpenMMLab Swin's train() returns None, not self
    return module


def export_onnx(module: nn.Module,
                example_inputs: Union[torch.Tensor, Tuple[torch.Tensor, ...]],
                path: str,
                opset: int = DEFAULT_OPSET,
                require_integer: bool = False,
                fold_weights: bool = True,
                output_names: Sequence[str] = ()) -> ExportReport:
    """Export ``module`` (float or calibrated) to an ONNX file.

    Inside :func:`clamp_mm.quant.export_mode` the module is traced by
    ``torch.export`` and written by torch's dynamo exporter: every uniform
    quantizer becomes QuantizeLinear/DequantizeLinear; the quantized
    weights are then folded into integer initializers
    (:func:`clamp_mm.deploy.qdq_folding.fold_quantized_weights`). The list
    of quant points and how each was exported is stored in the file's
    metadata (``clamp_mm.quant_points``). The file is written atomically:
    a failed export leaves an existing file untouched.

    Args:
        module (nn.Module): What to export (see :func:`exportable_module`).
        example_inputs (Tensor | tuple[Tensor]): Inputs of the traced
            forward; their shapes are fixed in the graph.
        path (str): Destination ``.onnx`` file.
        opset (int): ONNX opset. Defaults to :data:`DEFAULT_OPSET`.
        require_integer (bool): Raise instead of exporting when a quant
            point cannot reach integer kernels (a float-only quantizer
            kind, an asymmetric weight). Defaults to False.
        fold_weights (bool): Fold quantized weights into integer
            initializers. Defaults to True.
        output_names (Sequence[str]): Names of the graph outputs.
            Defaults to () (the exporter's names).

    Returns:
        ExportReport: The file and its quant points.

    Raises:
        ValueError: On an uncalibrated quantizer, or with
            ``require_integer`` on a point without integer form; the
            one-line message names it.
    """
    from .requirements import require_deploy_packages
    require_deploy_packages()
    import onnx

    from .qdq_folding import fold_quantized_weights
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs, )
    module.eval()
    points = describe_quant_points(module)
    if require_integer:
        for entry in points:
            if not entry.integer or entry.note:
                reason = entry.note if entry.integer else entry.exported_as
                raise ValueError(
                    f'quantizer {entry.name} ({entry.point}) has no integer '
                    f'kernel form: {reason}')
    with export_mode(module), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        program = torch.onnx.export(
            module, tuple(example_inputs), dynamo=True,
            opset_version=opset, external_data=False, optimize=True,
            verbose=False, report=False,
            output_names=list(output_names) or None)
    proto = program.model_proto
    strip_trace_metadata(proto)
    folded = 0
    if fold_weights:
        folded = fold_quantized_weights(proto).folded_weights
    entry = proto.metadata_props.add()
    entry.key = QUANT_POINTS_METADATA
    entry.value = json.dumps([point.to_dict() for point in points])
    onnx.checker.check_model(proto)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = f'{path}.tmp{os.getpid()}'
    onnx.save(proto, temporary)
    os.replace(temporary, path)
    return ExportReport(path, points, osp.getsize(path), folded)


def strip_trace_metadata(model) -> None:
    """Drop the exporter's per-node trace metadata (FX node, module path,
    stack trace: in a small model it outweighs the weights) and the
    intermediate shape annotations (onnxruntime infers them again)."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ''
    del model.graph.value_info[:]


def read_quant_points(path: str) -> List[QuantPointExport]:
    """The quant points an exported file's metadata lists ([] if none)."""
    import onnx
    model = onnx.load(path, load_external_data=False)
    for entry in model.metadata_props:
        if entry.key == QUANT_POINTS_METADATA:
            return [QuantPointExport(**item)
                    for item in json.loads(entry.value)]
    return []
