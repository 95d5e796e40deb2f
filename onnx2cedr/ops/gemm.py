"""Matrix products: Gemm and MatMul -> DASH_GEMM_RE (real GEMM, bias, fused activation)."""
from __future__ import annotations

import itertools

import numpy as np

from ..ir import Graph, Node
from . import public_api as pub
from .base import Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, act_fields, register

try:  # onnx represents bfloat16 with ml_dtypes' type
    import ml_dtypes

    _BF16 = (np.dtype(ml_dtypes.bfloat16),)
except ImportError:  # pragma: no cover
    _BF16 = ()


def _gemm_call(a: str, b: str, bias: str | None, out: str, fields: dict, flops: int,
               offsets=(0, 0, 0)) -> Call:
    args = [TensorArg(a, offsets[0]), TensorArg(b, offsets[1]), TensorArg(bias) if bias else NullArg(),
            TensorArg(out, offsets[2])]
    return Call("o2c_gemm", args, Params("dash_gemm_params_t", fields), api="DASH_GEMM_RE", flops=flops)


def _bias_kind(shape, m: int, n: int) -> int:
    shape = [int(d) for d in shape]
    while len(shape) > 2 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) > 2:
        raise Unsupported(f"bias of shape {shape} does not broadcast to ({m}, {n})")
    s = [1] * (2 - len(shape)) + shape
    if s == [1, 1]:
        return 1
    if s == [1, n]:
        return 2
    if s == [m, 1]:
        return 3
    if s == [m, n]:
        return 4
    raise Unsupported(f"bias of shape {shape} does not broadcast to ({m}, {n})")


@register
class Gemm(OpDef):
    op_type = "Gemm"
    attrs = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}
    api = "DASH_GEMM_RE"
    summary = "alpha*op(A)op(B) + beta*C, fused activation"
    lowerings = {"public": "lower_public"}

    def check_node(self, graph, node):
        for i in node.inputs[:2]:
            if i in graph.values and len(graph.values[i].shape) != 2:
                raise Unsupported("A and B must be 2-D")

    def flops(self, graph, node):
        y = graph.values[node.outputs[0]]
        a = graph.values[node.inputs[0]]
        k = a.shape[0] if self.attr(node, "transA") else a.shape[1]
        return 2 * y.size * k

    def lower(self, graph: Graph, node: Node) -> Lowered:
        a = graph.values[node.inputs[0]]
        y = graph.values[node.outputs[0]]
        ta, tb = int(self.attr(node, "transA")), int(self.attr(node, "transB"))
        m, n = y.shape
        k = a.shape[0] if ta else a.shape[1]
        bias = node.input(2) or None
        kind = _bias_kind(graph.values[bias].shape, m, n) if bias else 0
        fields = {"batch": 1, "M": m, "N": n, "K": k, "stride_a": 0, "stride_b": 0, "stride_c": 0,
                  "trans_a": ta, "trans_b": tb, "alpha": float(self.attr(node, "alpha")),
                  "beta": float(self.attr(node, "beta")), "bias_kind": kind, "act": act_fields(node)}
        return Lowered([_gemm_call(node.inputs[0], node.inputs[1], bias, node.outputs[0], fields,
                                   self.flops(graph, node))], reason="matrix product: DASH_GEMM_RE")

    def lower_public(self, graph: Graph, node: Node) -> Lowered:
        a, b = node.inputs[0], node.inputs[1]
        y = graph.values[node.outputs[0]]
        ta, tb = int(self.attr(node, "transA")), int(self.attr(node, "transB"))
        m, n = y.shape
        k = graph.values[a].shape[0] if ta else graph.values[a].shape[1]
        bias = node.input(2) or None
        kind = _bias_kind(graph.values[bias].shape, m, n) if bias else 0
        return public_product(graph, node, a, b, bias, kind, m, k, n, ta, tb, float(self.attr(node, "alpha")),
                              float(self.attr(node, "beta")), self.lower(graph, node))


@register
class MatMul(OpDef):
    op_type = "MatMul"
    attrs = {}
    api = "DASH_GEMM_RE"
    dtypes = tuple(np.dtype(d) for d in (np.float32, np.float64, np.float16)) + _BF16
    summary = ("batched matrix product with numpy broadcasting; float64/float16/bfloat16: the inline einsum "
               "loop (accumulates in double)")
    lowerings = {"public": "lower_public"}

    def check_node(self, graph, node):
        from .einsum import _TYPES

        dts = {np.dtype(graph.values[i].dtype) for i in node.inputs[:2] if i in graph.values}
        if len(dts) > 1 or (dts and next(iter(dts)) not in _TYPES):
            raise Unsupported(f"element types {', '.join(sorted(map(str, dts)))} (one of "
                              f"{', '.join(map(str, _TYPES))})")
        if dts and next(iter(dts)) != np.float32 and node.act is not None:
            raise Unsupported("a fused activation on a non-float32 product")

    def flops(self, graph, node):
        a = graph.values[node.inputs[0]]
        return 2 * graph.values[node.outputs[0]].size * a.shape[-1]

    def lower(self, graph: Graph, node: Node) -> Lowered:
        dt = np.dtype(graph.values[node.inputs[0]].dtype)
        if dt != np.float32:
            from .einsum import matmul_loop_call

            self.check_node(graph, node)
            return Lowered([matmul_loop_call(graph, node.inputs[0], node.inputs[1], node.outputs[0])],
                           reason=f"{dt} matrix product (DASH_GEMM_RE is float32): inline einsum loop")
        a = list(graph.values[node.inputs[0]].shape)
        b = list(graph.values[node.inputs[1]].shape)
        k = a[-1]
        a2 = [1, k] if len(a) == 1 else a
        b2 = [k, 1] if len(b) == 1 else b
        m, n = a2[-2], b2[-1]
        ab, bb = a2[:-2], b2[:-2]
        rank = max(len(ab), len(bb))
        ab = [1] * (rank - len(ab)) + ab
        bb = [1] * (rank - len(bb)) + bb
        ob = [max(x, y) for x, y in zip(ab, bb)]
        batch = int(np.prod(ob, dtype=np.int64)) if ob else 1
        act = act_fields(node)

        def fields(nb, sa, sb, sc):
            return {"batch": nb, "M": m, "N": n, "K": k, "stride_a": sa, "stride_b": sb, "stride_c": sc,
                    "trans_a": 0, "trans_b": 0, "alpha": 1.0, "beta": 1.0, "bias_kind": 0, "act": act}

        def stride(dims, mat):
            if all(d == 1 for d in dims):
                return 0
            return mat if dims == ob else None

        sa, sb = stride(ab, m * k), stride(bb, k * n)
        if sa is not None and sb is not None:
            call = _gemm_call(node.inputs[0], node.inputs[1], None, node.outputs[0],
                              fields(batch, sa, sb, m * n), 2 * batch * m * n * k)
            return Lowered([call], reason="matrix product: DASH_GEMM_RE")
        # general broadcasting of batch dims: one product per output batch index
        calls = []
        a_str, b_str = _strides(ab), _strides(bb)
        for out_i, idx in enumerate(itertools.product(*[range(d) for d in ob])):
            ia = sum((i if d != 1 else 0) * s for i, d, s in zip(idx, ab, a_str))
            ib = sum((i if d != 1 else 0) * s for i, d, s in zip(idx, bb, b_str))
            calls.append(_gemm_call(node.inputs[0], node.inputs[1], None, node.outputs[0], fields(1, 0, 0, 0),
                                    2 * m * n * k, offsets=(ia * m * k, ib * k * n, out_i * m * n)))
        return Lowered(calls, reason=f"matrix product: DASH_GEMM_RE, {len(calls)} calls for mixed batch broadcasting")


    def lower_public(self, graph: Graph, node: Node) -> Lowered:
        low = self.lower(graph, node)
        a, b = graph.values[node.inputs[0]], graph.values[node.inputs[1]]
        if np.dtype(a.dtype) != np.float32:
            return pub.inline(low, f"public target: inline, {low.reason}")
        if len(b.shape) != 2 or any(d != 1 for d in a.shape[:-2]) or len(a.shape) < 2:
            return pub.inline(low, "public target: inline, only a 2-D product (batch 1) maps onto DASH_GEMM_flt")
        m, k = a.shape[-2], a.shape[-1]
        return public_product(graph, node, node.inputs[0], node.inputs[1], None, 0, m, k, b.shape[1], 0, 0, 1.0, 1.0,
                              low)


def public_product(graph: Graph, node: Node, a: str, b: str, bias: str | None, kind: int, m: int, k: int, n: int,
                   ta: int, tb: int, alpha: float, beta: float, generic: Lowered) -> Lowered:
    """Y = act(alpha * op(A) op(B) + beta * bias) as DASH_GEMM_flt on complex-packed operands, when
    the decision rule says it pays; otherwise the generic lowering, inline."""
    ca, cb = graph.const(a), graph.const(b)
    packed = m * n + (0 if ca is not None else m * k) + (0 if cb is not None else k * n)
    ok, reason = pub.gemm_decision(m * n * k, packed, f"{m}x{k}x{n} product")
    if not ok:
        return pub.inline(generic, reason)
    calls, temps = [], []

    def operand(name, const, rows, cols, trans, what):
        if const is not None:
            mat = np.asarray(const, dtype=np.float32).reshape((cols, rows) if trans else (rows, cols))
            return pub.packed_const(graph, node, what, mat.T if trans else mat)
        t = pub.temp(graph, node, what, (rows, cols))
        temps.append(t)
        calls.append(pub.pack_call(name, t, rows, cols, bool(trans)))
        return t

    pa = operand(a, ca, m, k, ta, "a")
    pb = operand(b, cb, k, n, tb, "b")
    pc = pub.temp(graph, node, "c", (m, n))
    temps.append(pc)
    calls.append(pub.cgemm_call(pa, pb, pc, m, k, n))
    calls.append(pub.unpack_call(node, pc, bias, node.outputs[0], m, n, kind, alpha, beta))
    return Lowered(calls, reason=reason, temps=temps)


def _strides(dims):
    out, acc = [], 1
    for d in reversed(dims):
        out.append(acc)
        acc *= d
    return out[::-1]
