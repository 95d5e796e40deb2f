"""Keep int8 tensors int8 where a QDQ model goes through float for nothing:

    DequantizeLinear(x_q) -> QuantizeLinear -> y_q          (a pair: same scale, zero point and type)
        becomes nothing: y_q's readers read x_q;
    DequantizeLinear(x_q) -> QuantizeLinear -> y_q          (other scale, zero point or type)
        becomes QRequant(x_q) -> y_q (ops/qeltwise.py; the same float operations, in integers out);
    DequantizeLinear(x_q) -> Flatten | Reshape | Squeeze | Unsqueeze | Transpose | Identity -> QuantizeLinear
        with the same scale, zero point and type becomes that op on x_q (it moves bytes; the values are
        the same).

Legal when x_q and y_q are int8 or uint8 with scalar constant scales and zero points and the float
result is read by the QuantizeLinear alone (a y_q that is a graph output, or that a subgraph reads, keeps
its producer)."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import sole_consumer
from .qdq_common import QuantizeRootedPass, dq_in, replace_with

_MOVES = ("Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Identity")


class FuseQRequant(QuantizeRootedPass):
    NAME = "fuse_qrequant"

    def fuse(self, graph: Graph, q: Node, yq: tuple[float, int], producers: dict, consumers: dict) -> bool:
        y = q.outputs[0]
        ydt = np.dtype(graph.values[y].dtype)
        mid = producers.get(q.inputs[0])
        if mid is not None and mid.op in _MOVES and not mid.domain and mid.act is None:
            if sole_consumer(graph, mid.outputs[0], consumers) is not q or len([o for o in mid.outputs if o]) != 1:
                return False
            x = dq_in(graph, producers, mid.inputs[0])
            if x is None or not self._same(graph, x, yq, ydt):
                return False
            node = Node(mid.op, graph.fresh_node_name(f"{mid.name}_int8"), [x[0].inputs[0]] + list(mid.inputs[1:]),
                        [y], dict(mid.attrs), fused_from=[mid.name, q.name])
            replace_with(graph, [mid, q], node)
            return True
        x = dq_in(graph, producers, q.inputs[0])
        if x is None:
            return False
        src = x[0].inputs[0]
        if self._same(graph, x, yq, ydt):
            if y in graph.outputs or any(y in n.captures for n in graph.nodes):  # read outside the node list
                return False
            for n in graph.nodes:
                n.inputs = [src if i == y else i for i in n.inputs]
            graph.nodes = [n for n in graph.nodes if n is not q]
            return True
        node = Node("QRequant", graph.fresh_node_name(f"{q.name}_int8"), [src], [y],
                    {"x_scale": x[1], "x_zero": x[2], "y_scale": yq[0], "y_zero": yq[1], "y_unsigned": int(ydt == np.uint8)},
                    domain="onnx2cedr.ext", fused_from=[x[0].name, q.name])
        replace_with(graph, [q], node)
        return True

    @staticmethod
    def _same(graph: Graph, x: tuple, yq: tuple, ydt: np.dtype) -> bool:
        return (np.dtype(graph.values[x[0].inputs[0]].dtype) == ydt and np.float32(x[1]) == np.float32(yq[0])
                and x[2] == yq[1])


PASS = FuseQRequant()
