"""Lower the QONNX quantizers (Quant, BipolarQuant; domains qonnx.custom_op.general and
finn.custom_op.general) to standard ops, by the recipe of ops/qonnx.py (`expand`, also used for the
reference run of validate, so both compute the same graph):

    Quant(x, s, z, b)     -> Mul(Sub(Clip(Round(Add(Div(x, s), z)), lo, hi), z), s)
    BipolarQuant(x, s)    -> Where(GreaterOrEqual(x, 0), s, -s)

Legal when: Quant's scale, zero point and bit width are constants, the bit width an integer in
[1, 32], the rounding mode one of ROUND, HALF_EVEN, CEIL, FLOOR, ROUND_TO_ZERO. Anything else is
left as it is (the op's check then reports why). A binarized layer (BipolarQuant on a MatMul/Gemm's
input, its weights a BipolarQuant of a constant) becomes an XNOR/popcount layer later, in the
standard form this pass writes (fuse_binary)."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..ops.base import Unsupported
from ..ops.qonnx import QONNX_DOMAINS, expand
from .common import Pass


class _GraphEmitter:
    """Writes expand's standard ops into the compiler's graph, in place of one node."""

    def __init__(self, graph: Graph, node: Node):
        self.graph, self.node, self.nodes = graph, node, []

    def const(self, hint, array):
        return self.graph.add_const(self.graph.fresh_name(f"{self.node.name}_{hint}"), np.asarray(array)).name

    def op(self, op_type, inputs, attrs=None, out=None):
        g = self.graph
        shapes = [g.value(i).shape for i in inputs if i]
        if out is None:
            dt = np.bool_ if op_type == "GreaterOrEqual" else g.value(inputs[0]).dtype
            out = g.add_value(g.fresh_name(f"{self.node.name}_{op_type.lower()}"), dt,
                              np.broadcast_shapes(*shapes)).name
        self.nodes.append(Node(op_type, g.fresh_node_name(f"{self.node.name}_{op_type.lower()}"), list(inputs), [out],
                               dict(attrs or {}), fused_from=[self.node.name]))
        return out


class LowerQonnx(Pass):
    NAME = "lower_qonnx"

    def apply(self, graph: Graph) -> bool:
        changed = False
        for node in [n for n in graph.nodes if n.domain in QONNX_DOMAINS and n.op in ("Quant", "BipolarQuant")]:
            want = 4 if node.op == "Quant" else 2
            if len([i for i in node.inputs if i]) != want or not node.outputs or node.inputs[0] not in graph.values:
                continue  # malformed: the op's check reports it
            e = _GraphEmitter(graph, node)
            try:
                expand(node.op, dict(node.attrs), node.inputs, graph.const, graph.value(node.inputs[0]).dtype, e,
                       node.outputs[0])
            except Unsupported:
                continue  # not lowerable: the op's check reports why
            at = graph.nodes.index(node)
            graph.nodes[at:at + 1] = e.nodes
            changed = True
        return changed


PASS = LowerQonnx()
