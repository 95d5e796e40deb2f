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
QLinearMatMul / QGemm multiply a 2-D A (QGemm: alpha = 1, transA = 0, with an output scale). A
QLinearMatMul outside these (batched, float16 scales, weights beyond int8 after their zero point)
with constant scales and zero points becomes an exact float64 product in standard ops
(_exact_matmul). Anything else is left as it is (and is reported as an unsupported operator).
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..ops.qlinear import qlinear_add_check, qlinear_matmul_exact, qoperator_plan
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
                if node.op == "QLinearMatMul" and not node.domain:
                    changed |= self._exact_matmul(graph, node)
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
    def _exact_matmul(graph: Graph, node: Node) -> bool:
        """A QLinearMatMul the int8 QGemm cannot take (batched, float16 scales, weights that do not fit
        int8 after their zero point) as standard ops in float64, exact as ONNX defines it: the integer
        product (A - az) (B - bz) (exact in float64 below 2^53), times the multiplier as_ * bs / ys
        computed in the scales' type, plus yz, rounded half to even and saturated to yz's type.
        The scales must be constants (per tensor; B's may be per column) and the zero points too."""
        plan = qlinear_matmul_exact(graph, node)
        if isinstance(plan, str):
            return False
        consts, qt = plan
        a, a_z, b, b_z, y_z = node.input(0), node.input(2), node.input(3), node.input(5), node.input(7)
        y = node.outputs[0]
        av, bv, yv = graph.values[a], graph.values[b], graph.values[y]
        f64 = np.dtype(np.float64)
        base, nodes = node.name, []

        def value(what, shape):
            return graph.add_value(graph.fresh_name(f"{base}_{what}"), f64, shape).name

        def const(what, arr):
            return graph.add_const(graph.fresh_name(f"{base}_{what}"), np.asarray(arr)).name

        def emit(op, ins, out, **attrs):
            nodes.append(Node(op, graph.fresh_node_name(f"{base}_{op.lower()}"), ins, [out], attrs, fused_from=[base]))
            return out

        def centered(x, xv, z, zc, what):
            xf = emit("Cast", [x], value(what, xv.shape), to=11)
            if z and np.any(zc != 0):
                zf = const(f"{what}_zero", zc.astype(np.float64).reshape(-1 if zc.size > 1 else ()))
                xf = emit("Sub", [xf, zf], value(f"{what}_centered", xv.shape))
            return xf

        af = centered(a, av, a_z, consts["az"], "a")
        bf = centered(b, bv, b_z, consts["bz"], "b")
        acc = emit("MatMul", [af, bf], value("product", yv.shape))
        with np.errstate(all="ignore"):  # in the scales' own type, as the definition
            mult = (consts["as"].reshape(()) * consts["bs"].reshape(-1 if consts["bs"].size > 1 else ())
                    / consts["ys"].reshape(()))
        scaled = emit("Mul", [acc, const("multiplier", np.asarray(mult).astype(np.float64))], value("scaled", yv.shape))
        if y_z and consts["yz"].reshape(()) != 0:
            scaled = emit("Add", [scaled, const("yzero", np.float64(consts["yz"].reshape(())))], value("shifted", yv.shape))
        rounded = emit("Round", [scaled], value("rounded", yv.shape))
        info = np.iinfo(qt)
        clipped = emit("Clip", [rounded, const("qmin", np.float64(info.min)), const("qmax", np.float64(info.max))],
                       value("saturated", yv.shape))
        from onnx import helper
        emit("Cast", [clipped], y, to=int(helper.np_dtype_to_tensor_dtype(qt)))
        at = graph.nodes.index(node)
        graph.nodes[at:at + 1] = nodes
        return True

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
