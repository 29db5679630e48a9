"""Fold quantized weights of an ONNX graph into integer initializers.

torch.onnx writes a quantized weight as a float initializer followed by
QuantizeLinear -> DequantizeLinear (and, below 8 bits, a Clip). Evaluating
the constant part once leaves an int8/uint8 initializer feeding
DequantizeLinear: the QDQ form onnxruntime fuses into integer kernels, and
a file 4x smaller than float. A DequantizeLinear feeding only a Transpose
(``x @ W.T``) is moved behind it, so the weight is stored transposed and
DequantizeLinear feeds the MatMul directly.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

#: Operations evaluated when all their inputs are constant.
FOLDABLE_OPS = ('Clip', 'Max', 'Min', 'Transpose', 'Reshape', 'Identity',
                'Cast', 'Mul', 'Sub', 'Add', 'Div', 'QuantizeLinear')


@dataclass
class FoldStats:
    """What :func:`fold_quantized_weights` changed.

    Args:
        folded_weights (int): QuantizeLinear nodes replaced by integer
            initializers.
        moved_transposes (int): Transposes folded into those initializers.
        removed_nodes (int): Nodes removed in all.
    """
    folded_weights: int = 0
    moved_transposes: int = 0
    removed_nodes: int = 0


def _constants(graph) -> Dict[str, np.ndarray]:
    from onnx import numpy_helper
    values = {init.name: numpy_helper.to_array(init)
              for init in graph.initializer}
    for node in graph.node:
        if node.op_type == 'Constant':
            for attribute in node.attribute:
                if attribute.name == 'value':
                    values[node.output[0]] = numpy_helper.to_array(
                        attribute.t)
    return values


def _evaluate_node(node, inputs: List[Optional[np.ndarray]]) -> np.ndarray:
    """Run one node with onnx's reference implementation."""
    import onnx
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator
    initializers = [
        numpy_helper.from_array(value, name)
        for name, value in zip(node.input, inputs) if name
    ]
    output = helper.make_tensor_value_info(node.output[0],
                                           onnx.TensorProto.UNDEFINED, None)
    graph = helper.make_graph([node], 'fold', [], [output], initializers)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid('', 21)])
    return ReferenceEvaluator(model).run(None, {})[0]


def fold_quantized_weights(model) -> FoldStats:
    """Fold, in place, every QuantizeLinear whose input is constant.

    Args:
        model (onnx.ModelProto): An exported model.

    Returns:
        FoldStats: What changed.
    """
    from onnx import numpy_helper
    graph = model.graph
    constants = _constants(graph)
    producers = {output: node for node in graph.node
                 for output in node.output}
    cache: Dict[str, Optional[np.ndarray]] = {}

    def value_of(name: str, depth: int = 0) -> Optional[np.ndarray]:
        if not name:
            return None
        if name in constants:
            return constants[name]
        if name in cache:
            return cache[name]
        node = producers.get(name)
        result = None
        if node is not None and node.op_type in FOLDABLE_OPS and depth < 8:
            inputs = [value_of(i, depth + 1) if i else None
                      for i in node.input]
            if all(v is not None for i, v in zip(node.input, inputs) if i):
                result = _evaluate_node(node, inputs)
        cache[name] = result
        return result

    stats = FoldStats()
    folded = []
    for node in graph.node:
        if node.op_type != 'QuantizeLinear':
            continue
        codes = value_of(node.output[0])
        if codes is None:
            continue
        folded.append(node)
        graph.initializer.append(numpy_helper.from_array(
            np.asarray(codes), node.output[0]))
        stats.folded_weights += 1
    for node in folded:
        graph.node.remove(node)
    stats.moved_transposes = _move_transposes(model)
    stats.removed_nodes = (len(folded) + stats.moved_transposes +
                           remove_unused(model))
    return stats


def _move_transposes(model) -> int:
    """``Transpose(DequantizeLinear(W))`` -> ``DequantizeLinear(W^T)``."""
    from onnx import helper, numpy_helper
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    consumers: Dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {output.name for output in graph.output}
    moved = 0
    for dequantize in list(graph.node):
        if (dequantize.op_type != 'DequantizeLinear'
                or dequantize.input[0] not in initializers
                or dequantize.output[0] in outputs):
            continue
        users = consumers.get(dequantize.output[0], [])
        if len(users) != 1 or users[0].op_type != 'Transpose':
            continue
        if len(consumers.get(dequantize.input[0], [])) != 1:
            continue  # the codes are shared: leave them as they are
        transpose = users[0]
        codes = numpy_helper.to_array(initializers[dequantize.input[0]])
        perm = list(range(codes.ndim))[::-1]
        for attribute in transpose.attribute:
            if attribute.name == 'perm':
                perm = list(attribute.ints)
        axis = 1
        for attribute in dequantize.attribute:
            if attribute.name == 'axis':
                axis = attribute.i
        scale = numpy_helper.to_array(initializers[dequantize.input[1]]) \
            if dequantize.input[1] in initializers else None
        per_channel = scale is not None and scale.ndim == 1 and scale.size > 1
        new_init = numpy_helper.from_array(
            np.ascontiguousarray(codes.transpose(perm)),
            dequantize.input[0])
        initializers[dequantize.input[0]].CopyFrom(new_init)
        # DequantizeLinear now writes what the Transpose wrote.
        dequantize.output[0] = transpose.output[0]
        if per_channel:
            new_axis = perm.index(axis % codes.ndim)
            kept = [a for a in dequantize.attribute if a.name != 'axis']
            del dequantize.attribute[:]
            dequantize.attribute.extend(kept)
            dequantize.attribute.append(helper.make_attribute('axis',
                                                              new_axis))
        graph.node.remove(transpose)
        moved += 1
    return moved


def remove_unused(model) -> int:
    """Remove nodes and initializers nothing reads; returns nodes removed."""
    graph = model.graph
    removed = 0
    while True:
        used = {name for node in graph.node for name in node.input}
        used |= {output.name for output in graph.output}
        dead = [node for node in graph.node
                if not any(output in used for output in node.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
        removed += len(dead)
    used = {name for node in graph.node for name in node.input}
    used |= {output.name for output in graph.output}
    for init in list(graph.initializer):
        if init.name not in used:
            graph.initializer.remove(init)
    return removed
