"""The IR back to an ONNX model: for pass tests, validation against onnxruntime and debugging.

Constants become initializers (a constant that is itself a graph output becomes a Constant node,
since an initializer cannot portably be an output); a fused activation is re-expanded as its own
node after the producer, which then writes a fresh intermediate tensor; every value gets a
value_info so that the model carries the IR's static shapes.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .errors import ModelError
from .ir import Graph, Node

# ONNX Runtime 1.31 refuses models whose IR version is newer than the one it knows (onnx 1.23
# writes IR 14 by default), so models are written with an explicit IR version.
DEFAULT_IR_VERSION = 10


def _schema_attr_type(node: Node, opset: int, key: str) -> int | None:
    try:
        schema = onnx.defs.get_schema(node.op, opset, node.domain)
    except onnx.defs.SchemaError:
        return None
    a = schema.attributes.get(key)
    return None if a is None else int(a.type)


def make_attr(node: Node, opset: int, key: str, value) -> onnx.AttributeProto:
    if isinstance(value, onnx.AttributeProto):
        a = onnx.AttributeProto()
        a.CopyFrom(value)
        a.name = key
        return a
    if isinstance(value, np.ndarray):
        return helper.make_attribute(key, numpy_helper.from_array(value))
    if isinstance(value, (list, tuple)) and len(value) == 0:
        # an empty list has no element type of its own: ask the op's schema
        t = _schema_attr_type(node, opset, key)
        if t is None:
            raise ModelError(f"node '{node.name}' ({node.op}): cannot export the empty attribute '{key}'")
        return helper.make_attribute(key, [], attr_type=t)
    if isinstance(value, np.generic):
        value = value.item()
    return helper.make_attribute(key, value)


def attr_from_proto(a: onnx.AttributeProto):
    """An ONNX attribute as the IR keeps it (make_attr's inverse): tensors as numpy arrays, strings
    decoded, subgraphs (control flow) as the AttributeProto itself."""
    if a.type == onnx.AttributeProto.TENSOR:
        return numpy_helper.to_array(a.t)
    if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
        return a  # control flow: kept as proto; the op registry rejects what it cannot lower
    if a.ref_attr_name:
        raise ModelError(f"attribute '{a.name}' refers to a function attribute outside a function")
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [x.decode("utf-8", errors="replace") for x in v]
    return v


def _act_consts(graph: Graph, node: Node, taken: set[str]) -> tuple[list[str], list[onnx.TensorProto]]:
    """Extra inputs (and their initializers) of a re-expanded activation (only Clip has any)."""
    act = node.act
    assert act is not None
    if act.op != "Clip":
        return [], []
    dtype = graph.values[node.outputs[0]].dtype if node.outputs[0] in graph.values else np.dtype(np.float32)
    names, inits = [], []
    for key, absent in (("min", -math.inf), ("max", math.inf)):
        v = float(act.attrs.get(key, absent))
        if v == absent:
            names.append("")
            continue
        name = _fresh(f"{node.outputs[0]}__act_{key}", taken)
        names.append(name)
        inits.append(numpy_helper.from_array(np.array(v, dtype=dtype), name))
    while names and names[-1] == "":
        names.pop()
    return names, inits


def _fresh(base: str, taken: set[str]) -> str:
    name, k = base, 0
    while name in taken:
        k += 1
        name = f"{base}__{k}"
    taken.add(name)
    return name


def node_to_protos(graph: Graph, node: Node, taken: set[str] | None = None
                   ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], dict[str, str]]:
    """One IR node as ONNX nodes: the node itself, then its fused activation if it has one.

    Returns (nodes, extra initializers, {intermediate name: name of the value it copies the type
    of}). `taken` holds names already in use; fresh names are added to it.
    """
    if taken is None:
        taken = set(graph.values) | {o for n in graph.nodes for o in n.outputs}
    attrs = [make_attr(node, graph.opset, k, v) for k, v in sorted(node.attrs.items())]
    outputs = list(node.outputs)
    extra_nodes, inits, typed_like = [], [], {}
    if node.act is not None:
        final = outputs[0]
        mid = _fresh(f"{final}__pre_{node.act.op.lower()}", taken)
        outputs[0] = mid
        typed_like[mid] = final
        act_inputs, inits = _act_consts(graph, node, taken)
        attrs_act = {k: v for k, v in node.act.attrs.items() if node.act.op != "Clip"}
        if node.act.op == "Swish":  # opset 24, newer than the graph's: written out as x * Sigmoid(alpha * x)
            alpha = float(node.act.attrs.get("alpha", 1.0))
            sig_in = mid
            if alpha != 1.0:
                a_name, sig_in = _fresh(f"{final}__swish_alpha", taken), _fresh(f"{final}__swish_ax", taken)
                inits = inits + [numpy_helper.from_array(np.array(alpha, np.float32), a_name)]
                extra_nodes.append(helper.make_node("Mul", [mid, a_name], [sig_in], name=_fresh(f"{node.name}__swish_ax", taken)))
                typed_like[sig_in] = final
            sig = _fresh(f"{final}__swish_sigmoid", taken)
            typed_like[sig] = final
            extra_nodes.append(helper.make_node("Sigmoid", [sig_in], [sig], name=_fresh(f"{node.name}__swish_sigmoid", taken)))
            extra_nodes.append(helper.make_node("Mul", [mid, sig], [final],
                                                name=_fresh(node.act.name or f"{node.name}__act", taken)))
        else:
            extra_nodes.append(helper.make_node(node.act.op, [mid] + act_inputs, [final],
                                                name=_fresh(node.act.name or f"{node.name}__act", taken),
                                                **attrs_act))
    proto = helper.make_node(node.op, list(node.inputs), outputs, name=node.name, domain=node.domain or None)
    proto.attribute.extend(attrs)
    return [proto] + extra_nodes, inits, typed_like


def _value_info(graph: Graph, name: str, like: str | None = None) -> onnx.ValueInfoProto:
    v = graph.value(like or name)
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(v.dtype)), list(v.shape))


def graph_to_model(graph: Graph, ir_version: int = DEFAULT_IR_VERSION,
                   extra_outputs: Sequence[str] | Iterable[str] = ()) -> onnx.ModelProto:
    """The IR as a valid ONNX model (opset graph.opset); extra_outputs exposes intermediate values."""
    taken = set(graph.values) | {o for n in graph.nodes for o in n.outputs if o} | set(graph.inputs)
    outputs = list(graph.outputs)
    for name in extra_outputs:
        if name not in outputs and name not in graph.inputs:
            graph.value(name)  # a clear error for an unknown name
            outputs.append(name)

    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    typed_like: dict[str, str] = {}
    domains = {""}
    # constants that are outputs: Constant nodes (an initializer cannot portably be a graph output)
    const_outputs = [o for o in outputs if graph.values.get(o) is not None and graph.values[o].is_const]
    for o in const_outputs:
        nodes.append(helper.make_node("Constant", [], [o], name=_fresh(f"{o}__const", taken),
                                      value=numpy_helper.from_array(np.asarray(graph.values[o].data), o)))
    for n in graph.nodes:
        ns, extra_inits, like = node_to_protos(graph, n, taken)
        nodes.extend(ns)
        inits.extend(extra_inits)
        typed_like.update(like)
        domains.add(n.domain)

    used = {i for n in graph.nodes for i in n.inputs if i}
    const_names = sorted(k for k, v in graph.values.items() if v.is_const and k in used and k not in const_outputs)
    inits.extend(numpy_helper.from_array(np.asarray(graph.values[k].data), k) for k in const_names)

    inputs = [_value_info(graph, i) for i in graph.inputs]
    outs = [_value_info(graph, o) for o in outputs]
    skip = set(graph.inputs) | set(outputs) | set(const_names)
    vinfo = []
    for n in graph.nodes:
        for o in n.outputs:
            if o and o not in skip and o in graph.values:
                vinfo.append(_value_info(graph, o))
                skip.add(o)
    vinfo.extend(_value_info(graph, mid, like) for mid, like in typed_like.items())

    g = helper.make_graph(nodes, graph.name or "model", inputs, outs, initializer=inits, value_info=vinfo)
    opsets = [helper.make_opsetid("", graph.opset)] + [helper.make_opsetid(d, 1) for d in sorted(domains) if d]
    model = helper.make_model(g, opset_imports=opsets, producer_name="onnx2cedr")
    model.ir_version = ir_version
    return model
