"""Element-wise ops: activations and unary math -> DASH_UNARY; broadcasting binary -> DASH_BINARY."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..ir import Graph, Node
from .base import (Call, Lowered, OpDef, Params, TensorArg, Unsupported, act_fields, pad8,
                   register)

# ONNX activation op -> (dash op, how to read alpha/beta from attributes)
_ACTIVATIONS: dict[str, tuple[str, Any]] = {
    "Relu": ("DASH_ACT_RELU", lambda a: (0.0, 0.0)),
    "LeakyRelu": ("DASH_ACT_LEAKY_RELU", lambda a: (a.get("alpha", 0.01), 0.0)),
    "Clip": ("DASH_ACT_CLIP", lambda a: (a.get("min", -math.inf), a.get("max", math.inf))),
    "Sigmoid": ("DASH_ACT_SIGMOID", lambda a: (0.0, 0.0)),
    "Tanh": ("DASH_ACT_TANH", lambda a: (0.0, 0.0)),
    "HardSigmoid": ("DASH_ACT_HARD_SIGMOID", lambda a: (a.get("alpha", 0.2), a.get("beta", 0.5))),
    "HardSwish": ("DASH_ACT_HARD_SWISH", lambda a: (0.0, 0.0)),
    "Elu": ("DASH_ACT_ELU", lambda a: (a.get("alpha", 1.0), 0.0)),
}
FUSABLE_ACTIVATIONS = frozenset(_ACTIVATIONS)

_UNARY_MATH = {
    "Exp": "DASH_UNARY_EXP", "Log": "DASH_UNARY_LOG", "Sqrt": "DASH_UNARY_SQRT", "Abs": "DASH_UNARY_ABS",
    "Neg": "DASH_UNARY_NEG", "Reciprocal": "DASH_UNARY_RECIPROCAL", "Floor": "DASH_UNARY_FLOOR",
    "Ceil": "DASH_UNARY_CEIL", "Erf": "DASH_UNARY_ERF", "Softplus": "DASH_UNARY_SOFTPLUS",
    "Sin": "DASH_UNARY_SIN", "Cos": "DASH_UNARY_COS", "Round": "DASH_UNARY_ROUND", "Sign": "DASH_UNARY_SIGN",
}

_ACT_ATTRS = {"Relu": {}, "LeakyRelu": {"alpha": 0.01}, "Clip": {}, "Sigmoid": {}, "Tanh": {},
              "HardSigmoid": {"alpha": 0.2, "beta": 0.5}, "HardSwish": {}, "Elu": {"alpha": 1.0}}


def c_float(x: float) -> str:
    x = float(x)
    if math.isinf(x):
        return "INFINITY" if x > 0 else "-INFINITY"
    if math.isnan(x):
        return "NAN"
    return repr(float(np.float32(x))) + "f"


# activations fused only (their own nodes run as inline math, ops/math.py): dash op, alpha/beta
_FUSED_ONLY: dict[str, tuple[str, Any]] = {
    "Swish": ("DASH_ACT_SWISH", lambda a: (a.get("alpha", 1.0), 0.0)),
    "Mish": ("DASH_ACT_MISH", lambda a: (0.0, 0.0)),
}


def activation_fields(op: str, attrs: dict[str, Any]) -> dict[str, Any]:
    if op == "Gelu":
        kind = "DASH_ACT_GELU_TANH" if attrs.get("approximate", "none") == "tanh" else "DASH_ACT_GELU"
        return {"op": kind, "alpha": 0.0, "beta": 0.0}
    kind, ab = _ACTIVATIONS[op] if op in _ACTIVATIONS else _FUSED_ONLY[op]
    alpha, beta = ab(attrs)
    return {"op": kind, "alpha": float(alpha), "beta": float(beta)}


def clip_bounds(graph: Graph, node: Node) -> dict[str, float]:
    lo = graph.const(node.input(1))
    hi = graph.const(node.input(2))
    if (node.input(1) and lo is None) or (node.input(2) and hi is None):
        raise Unsupported("Clip bounds must be constants")
    return {"min": float(lo) if lo is not None else -math.inf, "max": float(hi) if hi is not None else math.inf}


def clip_runtime(graph: Graph, node: Node) -> Lowered:
    """Clip with a bound computed at run time: max with the lower bound, then min with the upper."""
    x, y = node.inputs[0], node.outputs[0]
    calls = []
    for k, op in ((1, "DASH_BIN_MAX"), (2, "DASH_BIN_MIN")):
        if node.input(k):
            calls.append(binary_call(graph, x, node.input(k), y, op))
            x = y
    return Lowered(calls, reason="Clip with run-time bounds: DASH_BINARY max/min")


def _unary_call(graph: Graph, node: Node, op_fields: dict[str, Any]) -> Lowered:
    x, y = node.inputs[0], node.outputs[0]
    n = graph.values[y].size
    call = Call("o2c_unary", [TensorArg(x), TensorArg(y)],
                Params("dash_unary_params_t", {"n": n, "op": op_fields}), api="DASH_UNARY", flops=n)
    return Lowered([call], reason="element-wise: DASH_UNARY")


def _make_activation(name: str):
    class Act(OpDef):
        op_type = name
        attrs = _ACT_ATTRS[name]
        api = "DASH_UNARY"
        summary = "activation (fusable into GEMM/CONV/BINARY epilogues)"

        def check_node(self, graph, node):
            if name == "Clip":
                for i in node.inputs[1:3]:
                    if i and i in graph.values and graph.values[i].size != 1:
                        raise Unsupported(f"Clip bound '{i}' is not a scalar")

        def lower(self, graph, node):
            attrs = dict(node.attrs)
            if name == "Clip":
                if any(i and graph.const(i) is None for i in node.inputs[1:3]):
                    return clip_runtime(graph, node)
                attrs = clip_bounds(graph, node)
            else:
                attrs = {**self.attrs, **attrs}
            return _unary_call(graph, node, activation_fields(name, attrs))

    Act.__name__ = f"Op{name}"
    return Act


def _make_unary(name: str):
    class Unary(OpDef):
        op_type = name
        attrs = {}
        api = "DASH_UNARY"
        summary = "unary math"

        def lower(self, graph, node):
            return _unary_call(graph, node, {"op": _UNARY_MATH[name], "alpha": 0.0, "beta": 0.0})

    Unary.__name__ = f"Op{name}"
    return Unary


for _n in _ACTIVATIONS:
    register(_make_activation(_n))
for _n in _UNARY_MATH:
    register(_make_unary(_n))


def broadcast_strides(in_shape, out_shape) -> list[int]:
    """Element strides of a dense tensor of in_shape read at out_shape's indices (0 = broadcast)."""
    in_shape = list(in_shape)
    rank = len(out_shape)
    if len(in_shape) > rank:
        raise Unsupported(f"shape {in_shape} does not broadcast to {list(out_shape)}")
    padded = [1] * (rank - len(in_shape)) + in_shape
    for p, o in zip(padded, out_shape):
        if p != 1 and p != o:  # never read past a tensor the graph declares with inconsistent shapes
            raise Unsupported(f"shape {in_shape} does not broadcast to {list(out_shape)}")
    strides, acc = [0] * rank, 1
    for d in range(rank - 1, -1, -1):
        strides[d] = 0 if padded[d] == 1 and out_shape[d] != 1 else acc
        acc *= padded[d]
    return strides


def _collapse(out_shape, a_str, b_str):
    """Merge adjacent dims that are contiguous for out, a and b alike (fewer loop levels)."""
    dims = [(int(o), int(a), int(b)) for o, a, b in zip(out_shape, a_str, b_str) if o != 1]
    if not dims:
        return [1], [0], [0]
    merged = [list(dims[-1])]
    for o, a, b in reversed(dims[:-1]):
        po, pa, pb = merged[-1]
        if a == pa * po and b == pb * po:
            merged[-1] = [po * o, pa, pb]
        else:
            merged.append([o, a, b])
    merged.reverse()
    return [m[0] for m in merged], [m[1] for m in merged], [m[2] for m in merged]


_BINARY = {"Add": "DASH_BIN_ADD", "Sub": "DASH_BIN_SUB", "Mul": "DASH_BIN_MUL", "Div": "DASH_BIN_DIV",
           "Pow": "DASH_BIN_POW", "Max": "DASH_BIN_MAX", "Min": "DASH_BIN_MIN", "Sum": "DASH_BIN_ADD",
           "PRelu": "DASH_BIN_PRELU"}


def binary_call(graph: Graph, a: str, b: str, out: str, op: str, act: dict[str, Any] | None = None) -> Call:
    out_shape = list(graph.values[out].shape)
    a_str = broadcast_strides(graph.values[a].shape, out_shape)
    b_str = broadcast_strides(graph.values[b].shape, out_shape)
    # the kernel merges contiguous dims itself; it gets the tensor's own shape (N, C, spatial...)
    # when that fits, to split it over threads at the same rows as the layers around it
    shape = out_shape if 1 <= len(out_shape) <= 8 else None
    if shape is None:
        shape, a_str, b_str = _collapse(out_shape, a_str, b_str)
    if len(shape) > 8:
        raise Unsupported(f"broadcasting over {len(shape)} dimensions (at most 8)")
    fields = {"op": op, "rank": len(shape), "out_shape": pad8(shape, 1), "a_stride": pad8(a_str, 0),
              "b_stride": pad8(b_str, 0), "act": act or {"op": "DASH_ACT_NONE", "alpha": 0.0, "beta": 0.0}}
    n = graph.values[out].size
    return Call("o2c_binary", [TensorArg(a), TensorArg(b), TensorArg(out)], Params("dash_binary_params_t", fields),
                api="DASH_BINARY", flops=n)


def _make_binary(name: str):
    class Binary(OpDef):
        op_type = name
        attrs = {}
        api = "DASH_BINARY"
        summary = "element-wise with broadcasting" + (" (variadic)" if name in ("Sum", "Max", "Min") else "")

        def check_node(self, graph, node):
            if name in ("Sum", "Max", "Min"):
                if not node.inputs:
                    raise Unsupported("no inputs")
            elif len(node.inputs) != 2:
                raise Unsupported("expects two inputs")
            for i in node.inputs:
                if i in graph.values and graph.values[i].dtype != np.float32:
                    raise Unsupported(f"input '{i}' has element type {graph.values[i].dtype}")

        def lower(self, graph, node):
            out = node.outputs[0]
            ins = [i for i in node.inputs if i]
            op = _BINARY[name]
            if len(ins) == 1:
                return _unary_call(graph, node, {"op": "DASH_UNARY_IDENTITY", "alpha": 0.0, "beta": 0.0})
            calls = []
            acc = ins[0]
            for k, b in enumerate(ins[1:]):
                last = k == len(ins) - 2
                calls.append(binary_call(graph, acc, b, out, op, act_fields(node) if last else None))
                acc = out
            return Lowered(calls, reason="element-wise: DASH_BINARY")

        lowerings = {"public": "lower_public"} if name in ("Add", "Sub") else {}

        def lower_public(self, graph, node):
            """Equal-shape add/sub as DASH_ZIP_flt on the floats viewed as complex pairs."""
            from . import public_api as pub

            low = self.lower(graph, node)
            a, b = node.inputs[0], node.inputs[1]
            out = node.outputs[0]
            n = graph.values[out].size
            same = graph.values[a].shape == graph.values[b].shape == graph.values[out].shape
            ok, reason = pub.zip_decision(n, same)
            if not ok:
                return pub.inline(low, reason)
            calls = pub.zip_calls(a, b, out, n, "ZIP_ADD" if name == "Add" else "ZIP_SUB")
            if node.act is not None:
                calls.append(Call("o2c_unary", [TensorArg(out), TensorArg(out)],
                                  Params("dash_unary_params_t", {"n": n, "op": act_fields(node)}), flops=n,
                                  comment="fused activation"))
            return Lowered(calls, reason=reason)

    Binary.__name__ = f"Op{name}"
    return Binary


for _n in _BINARY:
    register(_make_binary(_n))
