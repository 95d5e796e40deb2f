"""Static shape inference over the IR, node by node, using onnx's own per-op inference
(the official schemas, with constant inputs propagated), with op-registry overrides."""
from __future__ import annotations

import dataclasses

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .errors import ModelError
from .limits import check_shape
from .ir import Graph, Node

# Constant inputs up to this many elements are handed to onnx's inference as data (shape chains).
_DATA_LIMIT = 1 << 16


def to_node_proto(node: Node, opset: int) -> onnx.NodeProto:
    from .export_onnx import make_attr

    p = helper.make_node(node.op, node.inputs, node.outputs, name=node.name, domain=node.domain)
    p.attribute.extend(make_attr(node, opset, k, v) for k, v in node.attrs.items())
    return p


def _type_proto(dtype: np.dtype, shape) -> onnx.TypeProto:
    return helper.make_tensor_type_proto(helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), list(shape))


def onnx_infer(graph: Graph, node: Node) -> list[tuple[np.dtype, tuple[int, ...]]]:
    try:
        schema = onnx.defs.get_schema(node.op, graph.opset, node.domain)
    except onnx.defs.SchemaError:
        raise ModelError(f"node '{node.name}': no schema for {node.op} at opset {graph.opset}") from None
    types, data = {}, {}
    for i in node.inputs:
        if not i:
            continue
        v = graph.value(i)
        types[i] = _type_proto(v.dtype, v.shape)
        if v.is_const and v.size <= _DATA_LIMIT:
            data[i] = numpy_helper.from_array(np.asarray(v.data), i)
    try:
        out = onnx.shape_inference.infer_node_outputs(
            schema, to_node_proto(node, graph.opset), types, data,
            opset_imports=[helper.make_opsetid(node.domain, graph.opset)], ir_version=10)
    except Exception as e:
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise ModelError(f"node '{node.name}' ({node.op}): {msg}") from None
    res = []
    for o in node.outputs:
        if not o:
            res.append(None)
            continue
        t = out.get(o)
        if t is None or not t.tensor_type.HasField("shape"):
            raise ModelError(f"node '{node.name}' ({node.op}): the shape of output '{o}' cannot be "
                             f"determined statically")
        dims = []
        for d in t.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                raise ModelError(f"node '{node.name}' ({node.op}): output '{o}' has a dimension that is "
                                 f"not known at compile time")
            dims.append(int(d.dim_value))
        res.append((helper.tensor_dtype_to_np_dtype(t.tensor_type.elem_type), tuple(dims)))
    return res


def _infer_by_evaluation(graph: Graph, node: Node):
    """Types and shapes of a node that onnx's shape inference rejects but whose inputs are all small
    constants (a Range over one-element tensors): from its outputs evaluated (constant_fold then
    makes them constants)."""
    from .passes.constant_fold import _has_subgraph, evaluate_constant

    ins = [i for i in node.inputs if i]
    if node.domain or _has_subgraph(node) or not ins:
        return None
    if not all(graph.values.get(i) is not None and graph.values[i].is_const and graph.values[i].size <= _DATA_LIMIT
               for i in ins):
        return None
    out = evaluate_constant(graph, node)
    if out is None or len(out) != len([o for o in node.outputs if o]):
        return None
    it = iter(out)
    res = []
    for o in node.outputs:
        r = np.asarray(next(it)) if o else None
        res.append(None if r is None else (r.dtype, tuple(r.shape)))
    return res


def infer_node(graph: Graph, node: Node) -> None:
    from .errors import UnsupportedError
    from .ops import Unsupported, get_op

    opdef = get_op(node)
    if opdef is not None and opdef.has_infer:
        try:
            results = opdef.infer(graph, node)
        except Unsupported as e:  # the registry's own inference found what it cannot compile
            raise UnsupportedError(f"node '{node.name}' ({node.op}): {e}") from None
    else:
        try:
            results = onnx_infer(graph, node)
        except ModelError:
            results = _infer_by_evaluation(graph, node)
            if results is None:
                raise
    for o, r in zip(node.outputs, results):
        if not o or r is None:
            continue
        dtype, shape = r[0], tuple(int(d) for d in r[1])
        bound = r[2] if len(r) > 2 else None  # a dimension known only at run time (ops/bounded.py)
        # a stated maximum (convert --max-dim) names the slot's owner, the producing node's first output, and
        # holds for every value sharing the slot
        stated = graph.max_dims.get(bound.slot) if bound is not None else None
        if stated is not None and stated < shape[bound.dim]:
            shape = shape[:bound.dim] + (stated,) + shape[bound.dim + 1:]
            bound = dataclasses.replace(bound, stated=True)
        check_shape(f"output '{o}' of node '{node.name}' ({node.op})", shape, dtype)
        old = graph.values.get(o)
        if old is not None and old.is_const:
            continue
        graph.add_value(o, dtype, shape).bound = bound


def infer_graph(graph: Graph) -> None:
    """(Re-)infer every non-constant value's shape in topological order."""
    for n in graph.nodes:
        infer_node(graph, n)
    for o in graph.outputs:
        graph.value(o)
