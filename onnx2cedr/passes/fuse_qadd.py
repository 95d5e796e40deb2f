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
from .common import Pass, sole_consumer
from .fuse_qdq import _Q8, _dq, _scalar_qparams


def replace_with(graph: Graph, drop: list[Node], node: Node) -> None:
    """Put `node` where the first of `drop` was, and remove every node of `drop`."""
    ids = {id(n) for n in drop}
    at = min(graph.nodes.index(n) for n in drop)
    graph.nodes = [n for n in graph.nodes[:at] if id(n) not in ids] + [node] + \
        [n for n in graph.nodes[at:] if id(n) not in ids]


def quant_out(graph: Graph, q: Node) -> tuple[float, int] | None:
    """(scale, zero point) of a standard QuantizeLinear to int8 / uint8 with scalar constant ones."""
    if q.domain or q.op != "QuantizeLinear" or q.attrs.get("saturate", 1) != 1:
        return None
    if np.dtype(graph.values[q.outputs[0]].dtype) not in _Q8:
        return None
    return _scalar_qparams(graph, q)


def dq_in(graph: Graph, producers: dict, name: str) -> tuple[Node, float, int] | None:
    """(node, scale, zero point) of the DequantizeLinear of an int8 / uint8 tensor making `name`."""
    d = _dq(graph, producers, name)
    if d is None or np.dtype(graph.values[d.inputs[0]].dtype) not in _Q8:
        return None
    qp = _scalar_qparams(graph, d)
    return None if qp is None else (d, qp[0], qp[1])


class FuseQAdd(Pass):
    NAME = "fuse_qadd"

    def apply(self, graph: Graph) -> bool:
        changed = False
        for q in [n for n in graph.nodes if n.op == "QuantizeLinear" and not n.domain]:
            changed |= self._fuse(graph, q)
        return changed

    def _fuse(self, graph: Graph, q: Node) -> bool:
        yq = quant_out(graph, q)
        if yq is None:
            return False
        producers, consumers = graph.producers(), graph.consumers()
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
