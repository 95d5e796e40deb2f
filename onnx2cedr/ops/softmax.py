"""Softmax and LogSoftmax (opset >= 13 semantics: one axis) -> DASH_SOFTMAX."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, OpDef, Params, TensorArg, norm_axis, register


def _make(name: str):
    class Softmax(OpDef):
        op_type = name
        attrs = {"axis": -1}
        api = "DASH_SOFTMAX"
        summary = ("log-" if name == "LogSoftmax" else "") + "softmax over one axis"

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
            call = Call("o2c_softmax", [TensorArg(node.inputs[0]), TensorArg(node.outputs[0])],
                        Params("dash_softmax_params_t", fields), api="DASH_SOFTMAX", flops=self.flops(graph, node))
            return Lowered([call], reason="softmax: DASH_SOFTMAX")

    Softmax.__name__ = f"Op{name}"
    return Softmax


register(_make("Softmax"))
register(_make("LogSoftmax"))
