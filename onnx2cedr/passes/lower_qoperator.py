"""Lower QOperator-format integer layers onto the QConv / QGemm integer layers (DASH_QCONV_i8 /
DASH_QGEMM_i8), the ones the fuse_qdq pass makes from QDQ patterns:

    QLinearConv(x, xs, xz, w, ws, wz, ys, yz[, B])        -> QConv(x, w - wz, B, xs * ws / ys)
    QLinearMatMul(a, as, az, b, bs, bz, ys, yz)            -> QGemm(a, b - bz, -, as * bs / ys)
    com.microsoft QGemm(a, as, az, b, bs, bz, C, ys, yz)   -> QGemm(a, b - bz, C, as * bs / ys)
    com.microsoft QLinearAdd(a, as, az, b, bs, bz, cs, cz)  -> QuantizeLinear(DQ(a) + DQ(b), cs, cz)
    ConvInteger(x, w, xz, wz) / MatMulInteger(a, b, az, bz) -> QConv / QGemm(x, w - wz) with out_int32
                                                               (the int32 accumulators, not requantized)

(what onnxruntime.quantization.quantize_static writes with quant_format=QOperator). The multiplier is
float32(x_scale * w_scale[n]) / y_scale, as onnxruntime's QLinearConv computes it.

Legal when: x and y are int8 or uint8 with scalar constant scales and zero points; the weights are
an int8 or uint8 constant whose zero point (per tensor, or per output channel) subtracted leaves
every value in [-128, 127] (then they become int8 with zero point 0: exact); the weight scale is per
tensor or per output channel; the bias is an int32 constant of one value per output channel;
QLinearMatMul / QGemm multiply a 2-D A (QGemm: alpha = 1, transA = 0, with an output scale). Anything
else is left as it is (and is reported as an unsupported operator).
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..ops.qlinear import qlinear_add_check, qoperator_plan
from .common import Pass

_QOPERATOR = {("", "QLinearConv"), ("", "QLinearMatMul"), ("com.microsoft", "QGemm"), ("", "ConvInteger"),
              ("", "MatMulInteger")}


class LowerQOperator(Pass):
    NAME = "lower_qoperator"

    def apply(self, graph: Graph) -> bool:
        changed = False
        for node in [n for n in graph.nodes if n.domain == "com.microsoft" and n.op == "QLinearAdd"]:
            changed |= self._add(graph, node)
        for node in [n for n in graph.nodes if (n.domain or "", n.op) in _QOPERATOR]:
            plan = qoperator_plan(graph, node)
            if isinstance(plan, str):
                continue  # not lowerable: the op's check reports why
            bias = ""
            if plan["bias"] is not None:
                bias = graph.add_const(graph.fresh_name(f"{node.name}_qbias"), plan["bias"]).name
            w_name = graph.add_const(graph.fresh_name(f"{node.name}_qweight"), plan["weight"]).name
            mult_name = "" if plan["multiplier"] is None else \
                graph.add_const(graph.fresh_name(f"{node.name}_qmult"), plan["multiplier"]).name
            new = Node(plan["op"], graph.fresh_node_name(f"{node.name}_int8"), [node.inputs[0], w_name, bias, mult_name],
                       [node.outputs[0]], plan["attrs"], domain="onnx2cedr.ext", fused_from=[node.name])
            graph.nodes[graph.nodes.index(node)] = new
            changed = True
        return changed


    @staticmethod
    def _add(graph: Graph, node: Node) -> bool:
        """QLinearAdd(A, As, Az, B, Bs, Bz, Cs, Cz) -> QuantizeLinear(DQ(A) + DQ(B), Cs, Cz)."""
        if qlinear_add_check(graph, node):
            return False
        a, b, y = graph.values[node.inputs[0]], graph.values[node.inputs[3]], graph.values[node.outputs[0]]
        fa = graph.add_value(graph.fresh_name(f"{node.name}_a"), np.float32, a.shape).name
        fb = graph.add_value(graph.fresh_name(f"{node.name}_b"), np.float32, b.shape).name
        fc = graph.add_value(graph.fresh_name(f"{node.name}_sum"), np.float32, y.shape).name
        cz = node.input(7) or graph.add_const(graph.fresh_name(f"{node.name}_czero"), np.zeros((), a.dtype)).name
        base = node.name
        new = [Node("DequantizeLinear", graph.fresh_node_name(f"{base}_dqa"), [node.inputs[0], node.input(1), node.input(2)],
                    [fa], fused_from=[base]),
               Node("DequantizeLinear", graph.fresh_node_name(f"{base}_dqb"), [node.inputs[3], node.input(4), node.input(5)],
                    [fb], fused_from=[base]),
               Node("Add", graph.fresh_node_name(f"{base}_add"), [fa, fb], [fc], fused_from=[base]),
               Node("QuantizeLinear", graph.fresh_node_name(f"{base}_q"), [fc, node.input(6), cz], [node.outputs[0]],
                    fused_from=[base])]
        at = graph.nodes.index(node)
        graph.nodes[at:at + 1] = new
        return True


PASS = LowerQOperator()
