"""Fuse the QDQ pattern around an Add into one int8 layer (QAdd, ops/qeltwise.py):

    DequantizeLinear(a_q), DequantizeLinear(b_q) -> Add [-> Relu] -> QuantizeLinear -> y_q

becomes QAdd(a_q, b_q) -> y_q: y = saturate(round_half_even(a_ratio (a - za) + b_ratio (b - zb)) + zy),
ratios a_scale / y_scale and b_scale / y_scale (onnxruntime's QLinearAdd), clamped below at zy after a
Relu. Legal when a_q, b_q and y_q are int8 or uint8 with scalar constant scales and zero points, a and
b have the same shape (no broadcasting), and the Add's (and the Relu's) result is read by the next
node alone. The DequantizeLinear nodes stay for their other readers (dead_code drops the rest)."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import sole_consumer
from .qdq_common import QuantizeRootedPass, dq_in, replace_with


class FuseQAdd(QuantizeRootedPass):
    NAME = "fuse_qadd"

    def fuse(self, graph: Graph, q: Node, yq: tuple[float, int], producers: dict, consumers: dict) -> bool:
        add, relu = producers.get(q.inputs[0]), None
        if add is not None and add.op == "Relu" and not add.domain and add.act is None:
            if sole_consumer(graph, add.outputs[0], consumers) is not q:
                return False
            relu, add = add, producers.get(add.inputs[0])
        if add is None or add.op != "Add" or add.domain or add.act is not None or len(add.inputs) != 2:
            return False
        if sole_consumer(graph, add.outputs[0], consumers) is not (relu or q):
            return False
        a, b = dq_in(graph, producers, add.inputs[0]), dq_in(graph, producers, add.inputs[1])
        if a is None or b is None:
            return False
        sa, sb = graph.values[a[0].inputs[0]].shape, graph.values[b[0].inputs[0]].shape
        if tuple(sa) != tuple(sb) or tuple(sa) != tuple(graph.values[q.outputs[0]].shape):
            return False
        attrs = {"a_scale": a[1], "a_zero": a[2], "b_scale": b[1], "b_zero": b[2], "y_scale": yq[0], "y_zero": yq[1],
                 "y_unsigned": int(np.dtype(graph.values[q.outputs[0]].dtype) == np.uint8),
                 "relu": int(relu is not None)}
        node = Node("QAdd", graph.fresh_node_name(f"{add.name}_int8"), [a[0].inputs[0], b[0].inputs[0]],
                    [q.outputs[0]], attrs, domain="onnx2cedr.ext",
                    fused_from=[add.name] + ([relu.name] if relu else []) + [q.name])
        replace_with(graph, [add, q] + ([relu] if relu else []), node)
        return True


PASS = FuseQAdd()
