"""Fuse the QDQ pattern around a Concat into an int8 Concat:

    DequantizeLinear(x1_q), ..., DequantizeLinear(xn_q) -> Concat -> QuantizeLinear -> y_q

becomes Concat(x1_q', ..., xn_q') -> y_q, a byte copy, where xi_q' is xi_q itself when it has y's
element type, scale and zero point, else QRequant(xi_q) (ops/qeltwise.py: the DequantizeLinear ->
QuantizeLinear pair in integers, the same float operations). Legal when every tensor is int8 or uint8
with scalar constant scales and zero points and the Concat's result is read by the QuantizeLinear alone."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import sole_consumer
from .qdq_common import QuantizeRootedPass, dq_in, replace_with


class FuseQConcat(QuantizeRootedPass):
    NAME = "fuse_qconcat"

    def fuse(self, graph: Graph, q: Node, yq: tuple[float, int], producers: dict, consumers: dict) -> bool:
        cat = producers.get(q.inputs[0])
        if cat is None or cat.op != "Concat" or cat.domain or sole_consumer(graph, cat.outputs[0], consumers) is not q:
            return False
        ins = [dq_in(graph, producers, i) for i in cat.inputs]
        if not ins or any(i is None for i in ins):
            return False
        ydt = np.dtype(graph.values[q.outputs[0]].dtype)
        new_inputs, added = [], []
        for d, s, z in ins:
            x = d.inputs[0]
            if np.dtype(graph.values[x].dtype) == ydt and np.float32(s) == np.float32(yq[0]) and z == yq[1]:
                new_inputs.append(x)
                continue
            out = graph.fresh_name(f"{x}_requant")
            graph.add_value(out, ydt, graph.values[x].shape)
            added.append(Node("QRequant", graph.fresh_node_name(f"{cat.name}_requant"), [x], [out],
                              {"x_scale": s, "x_zero": z, "y_scale": yq[0], "y_zero": yq[1],
                               "y_unsigned": int(ydt == np.uint8)}, domain="onnx2cedr.ext", fused_from=[d.name]))
            new_inputs.append(out)
        node = Node("Concat", graph.fresh_node_name(f"{cat.name}_int8"), new_inputs, [q.outputs[0]], dict(cat.attrs),
                    fused_from=[cat.name, q.name])
        replace_with(graph, [cat, q], node)
        at = graph.nodes.index(node)
        graph.nodes[at:at] = added
        return True


PASS = FuseQConcat()
