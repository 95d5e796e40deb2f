"""Element-wise math beyond the DASH_UNARY unit: trigonometric/hyperbolic functions and the newer
activations (inline CPU kernel o2c_unary_math; the UNARY API and its accelerator implement ops
0..24 only), Mean (DASH_BINARY chain), IsNaN/IsInf (bool output) and Hardmax."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, OpDef, Params, TensorArg, Unsupported, norm_axis, register
from .eltwise import binary_call

# ONNX op -> (o2c_math_op_t, attributes with defaults, (alpha, beta) from the attributes)
_MATH: dict[str, tuple[str, dict, object]] = {
    "Tan": ("O2C_MATH_TAN", {}, None),
    "Asin": ("O2C_MATH_ASIN", {}, None),
    "Acos": ("O2C_MATH_ACOS", {}, None),
    "Atan": ("O2C_MATH_ATAN", {}, None),
    "Sinh": ("O2C_MATH_SINH", {}, None),
    "Cosh": ("O2C_MATH_COSH", {}, None),
    "Asinh": ("O2C_MATH_ASINH", {}, None),
    "Acosh": ("O2C_MATH_ACOSH", {}, None),
    "Atanh": ("O2C_MATH_ATANH", {}, None),
    "Selu": ("O2C_MATH_SELU", {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875},
             lambda a: (a["alpha"], a["gamma"])),
    "Celu": ("O2C_MATH_CELU", {"alpha": 1.0}, lambda a: (a["alpha"], 0.0)),
    "Mish": ("O2C_MATH_MISH", {}, None),
    "Softsign": ("O2C_MATH_SOFTSIGN", {}, None),
    "ThresholdedRelu": ("O2C_MATH_THRESHOLDED_RELU", {"alpha": 1.0}, lambda a: (a["alpha"], 0.0)),
    "Shrink": ("O2C_MATH_SHRINK", {"lambd": 0.5, "bias": 0.0}, lambda a: (a["lambd"], a["bias"])),
    "Swish": ("O2C_MATH_SWISH", {"alpha": 1.0}, lambda a: (a["alpha"], 0.0)),
}


def math_call(graph: Graph, x: str, y: str, op: str, alpha: float = 0.0, beta: float = 0.0, flops: int = 0) -> Call:
    n = graph.values[y].size
    return Call("o2c_unary_math", [TensorArg(x), TensorArg(y)],
                Params("o2c_math_params_t", {"n": n, "op": op, "alpha": float(alpha), "beta": float(beta)}),
                flops=flops or 10 * n)


class _MathOp(OpDef):
    summary = "element-wise math (no CEDR API: inline CPU)"
    kind = ""

    def alpha_beta(self, node: Node) -> tuple[float, float]:
        return 0.0, 0.0

    def lower(self, graph, node):
        a, b = self.alpha_beta(node)
        return Lowered([math_call(graph, node.inputs[0], node.outputs[0], self.kind, a, b)],
                       reason="element-wise math outside the DASH_UNARY op set: inline CPU kernel")


def _make_math(name: str):
    kind, attrs, ab = _MATH[name]

    class Op(_MathOp):
        op_type = name

        def alpha_beta(self, node):
            if ab is None:
                return 0.0, 0.0
            return ab({k: float(self.attr(node, k)) for k in attrs})

    Op.attrs = dict(attrs)
    Op.kind = kind
    if name == "Swish":  # opset 24: no schema at the internal opset
        Op.has_infer = True
        Op.infer = lambda self, graph, node: [(graph.value(node.inputs[0]).dtype, graph.value(node.inputs[0]).shape)]
    Op.__name__ = f"Op{name}"
    return Op


for _n in _MATH:
    register(_make_math(_n))


@register
class SwishExt(_make_math("Swish")):
    """Swish of an opset-24 model, carried in the private domain (see opset_fixups)."""

    domain = "onnx2cedr.ext"


@register
class Gelu(_MathOp):
    op_type = "Gelu"
    attrs = {"approximate": "none"}

    def check_node(self, graph, node):
        if self.attr(node, "approximate") not in ("none", "tanh"):
            raise Unsupported(f"approximate='{self.attr(node, 'approximate')}' (expected 'none' or 'tanh')")

    def lower(self, graph, node):
        kind = "O2C_MATH_GELU_TANH" if self.attr(node, "approximate") == "tanh" else "O2C_MATH_GELU"
        return Lowered([math_call(graph, node.inputs[0], node.outputs[0], kind)],
                       reason="element-wise math outside the DASH_UNARY op set: inline CPU kernel")


@register
class Mean(OpDef):
    op_type = "Mean"
    attrs = {}
    api = "DASH_BINARY"
    summary = "element-wise mean with broadcasting (variadic): sums, then one division"

    def check_node(self, graph, node):
        if not [i for i in node.inputs if i]:
            raise Unsupported("no inputs")
        for i in node.inputs:
            if i in graph.values and graph.values[i].dtype != np.float32:
                raise Unsupported(f"input '{i}' has element type {graph.values[i].dtype}")

    def lower(self, graph, node):
        out = node.outputs[0]
        ins = [i for i in node.inputs if i]
        if len(ins) == 1:
            return Lowered([Call("o2c_unary", [TensorArg(ins[0]), TensorArg(out)],
                                 Params("dash_unary_params_t",
                                        {"n": graph.values[out].size,
                                         "op": {"op": "DASH_UNARY_IDENTITY", "alpha": 0.0, "beta": 0.0}}),
                                 api="DASH_UNARY")], reason="mean of one input: copy (DASH_UNARY)")
        calls, acc = [], ins[0]
        for b in ins[1:]:
            calls.append(binary_call(graph, acc, b, out, "DASH_BIN_ADD"))
            acc = out
        n = graph.add_const(graph.fresh_name(out + "::count"), np.array(len(ins), np.float32)).name
        calls.append(binary_call(graph, out, n, out, "DASH_BIN_DIV"))
        return Lowered(calls, reason="element-wise: DASH_BINARY (sum, then divide by the count)")


def _make_classify(name: str):
    class Classify(OpDef):
        op_type = name
        attrs = {"detect_negative": 1, "detect_positive": 1} if name == "IsInf" else {}
        summary = "element-wise test, bool output (inline CPU)"

        def lower(self, graph, node):
            n = graph.values[node.outputs[0]].size
            fields = {"n": n, "op": 0 if name == "IsNaN" else 1,
                      "detect_negative": int(self.attr(node, "detect_negative") or 0),
                      "detect_positive": int(self.attr(node, "detect_positive") or 0)}
            return Lowered([Call("o2c_classify", [TensorArg(node.inputs[0]), TensorArg(node.outputs[0], cast="uint8_t")],
                                 Params("o2c_classify_params_t", fields), flops=n)],
                           reason="element-wise test: inline CPU kernel")

    Classify.__name__ = f"Op{name}"
    return Classify


register(_make_classify("IsNaN"))
register(_make_classify("IsInf"))


@register
class Hardmax(OpDef):
    op_type = "Hardmax"
    attrs = {"axis": -1}
    summary = "one-hot of the first maximum along one axis (inline CPU)"

    def check_node(self, graph, node):
        x = graph.values.get(node.inputs[0])
        if x is not None:
            norm_axis(int(self.attr(node, "axis")), len(x.shape), node)

    def lower(self, graph, node):
        shape = graph.values[node.inputs[0]].shape
        ax = norm_axis(int(self.attr(node, "axis")), len(shape), node)
        fields = {"outer": int(np.prod(shape[:ax], dtype=np.int64)), "axis": int(shape[ax]),
                  "inner": int(np.prod(shape[ax + 1:], dtype=np.int64))}
        return Lowered([Call("o2c_hardmax", [TensorArg(node.inputs[0]), TensorArg(node.outputs[0])],
                             Params("o2c_hardmax_params_t", fields), flops=graph.values[node.inputs[0]].size)],
                       reason="hardmax: inline CPU kernel")



class _SwiGLU(OpDef):
    """SwiGLU (opset 28): Swish(A) * B, A and B of one shape: o2c_unary_math (SWISH), then DASH_BINARY MUL
    in place."""

    op_type = "SwiGLU"
    attrs = {"alpha": 1.0}
    has_infer = True  # no schema at the internal opset
    summary = "A * sigmoid(alpha * A) * B (inline Swish, then DASH_BINARY)"

    def check_node(self, graph, node):
        a, b = graph.values.get(node.inputs[0]), graph.values.get(node.input(1))
        if a is not None and b is not None and (a.shape != b.shape or a.dtype != b.dtype):
            raise Unsupported(f"A {list(a.shape)} and B {list(b.shape)} must have one shape and type")

    def infer(self, graph, node):
        a = graph.value(node.inputs[0])
        return [(a.dtype, a.shape)]

    def lower(self, graph, node):
        a, b, y = node.inputs[0], node.input(1), node.outputs[0]
        return Lowered([math_call(graph, a, y, "O2C_MATH_SWISH", float(self.attr(node, "alpha"))),
                        binary_call(graph, y, b, y, "DASH_BIN_MUL")],
                       reason="Swish inline, then the product on DASH_BINARY")


@register
class SwiGLU(_SwiGLU):
    """Listed in the op table under its own name; models carry it in the private domain (opset_fixups)."""


@register
class SwiGLUExt(_SwiGLU):
    domain = "onnx2cedr.ext"
