"""What the passes that fuse a QDQ pattern ending in a QuantizeLinear share (fuse_qadd, fuse_qpool,
fuse_qconcat, fuse_qrequant): the quantize / dequantize parameter readers, node replacement, and a
base class that visits every standard QuantizeLinear to int8 / uint8 with scalar constant parameters."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import Pass
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


class QuantizeRootedPass(Pass):
    """Visits each QuantizeLinear to int8 / uint8 with scalar constant scale and zero point; the
    subclass's fuse() gets it with its (scale, zero point) and the graph's current producer and
    consumer maps, and returns whether it rewrote the graph."""

    def apply(self, graph: Graph) -> bool:
        changed = False
        for q in [n for n in graph.nodes if n.op == "QuantizeLinear" and not n.domain]:
            yq = quant_out(graph, q)
            if yq is not None:
                changed |= self.fuse(graph, q, yq, graph.producers(), graph.consumers())
        return changed

    def fuse(self, graph: Graph, q: Node, yq: tuple[float, int], producers: dict, consumers: dict) -> bool:
        raise NotImplementedError
