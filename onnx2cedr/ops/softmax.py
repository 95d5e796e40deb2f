"""Softmax and LogSoftmax (opset >= 13 semantics: one axis) -> DASH_SOFTMAX; other float types ->
the inline kernel o2c_softmax_typed."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, OpDef, Params, TensorArg, norm_axis, register
from .einsum import _TYPES  # float32 (DASH_SOFTMAX), float64, float16, bfloat16 (inline)


def _make(name: str):
    class Softmax(OpDef):
        op_type = name
        attrs = {"axis": -1}
        api = "DASH_SOFTMAX"
        dtypes = tuple(_TYPES)
        summary = ("log-" if name == "LogSoftmax" else "") + "softmax over one axis (float64/float16/bfloat16: inline)"

        def check_node(self, graph, node):
            x = graph.values.get(node.inputs[0])
            if x is not None:
                norm_axis(int(self.attr(node, "axis")), len(x.shape), node)

        def flops(self, graph, node):
            return 5 * graph.values[node.inputs[0]].size

        def lower(self, graph: Graph, node: Node) -> Lowered:
            shape = graph.values[node.inputs[0]].shape
            ax = norm_axis(int(self.attr(node, "axis")), len(shape), node)
            fields = {"outer": int(np.prod(shape[:ax], dtype=np.int64)), "axis": int(shape[ax]),
                      "inner": int(np.prod(shape[ax + 1:], dtype=np.int64)), "log": int(name == "LogSoftmax")}
            dt = np.dtype(graph.values[node.inputs[0]].dtype)
            if dt != np.float32:  # the API is float32: a typed loop computing in double
                call = Call("o2c_softmax_typed", [TensorArg(node.inputs[0], cast="void"),
                                                  TensorArg(node.outputs[0], cast="void")],
                            Params("o2c_softmax_typed_params_t", {"softmax": fields, "type": _TYPES[dt]}),
                            flops=self.flops(graph, node))
                return Lowered([call], reason=f"{dt} softmax (DASH_SOFTMAX is float32): inline CPU kernel")
            call = Call("o2c_softmax", [TensorArg(node.inputs[0]), TensorArg(node.outputs[0])],
                        Params("dash_softmax_params_t", fields), api="DASH_SOFTMAX", flops=self.flops(graph, node))
            return Lowered([call], reason="softmax: DASH_SOFTMAX")

    Softmax.__name__ = f"Op{name}"
    return Softmax


register(_make("Softmax"))
register(_make("LogSoftmax"))
