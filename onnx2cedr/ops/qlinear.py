"""Integer layers of QDQ models: QConv and QGemm (private domain), made by the fuse_qdq pass from
DequantizeLinear -> Conv/Gemm/MatMul [-> Relu] -> QuantizeLinear -> DASH_QCONV_i8 / DASH_QGEMM_i8,
and by the lower_qoperator pass from QOperator layers (QLinearConv, QLinearMatMul, com.microsoft
QGemm: declared here, with their shapes and the conditions under which they lower; they have no code
of their own).

Inputs: x (int8/uint8), w (int8 constant, zero point 0), bias (int32 constant in scale x_scale *
w_scale, or absent), multiplier (float32 constant per output channel: x_scale * w_scale / y_scale).
The zero points, the Relu and the output's type are attributes. With int16 weights the layer is
16-bit: x and y int16/uint16, lowered to DASH_QCONV_i16 / DASH_QGEMM_i16 (int64 accumulation)."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, pad3, register
from .conv import same_pads, spatial_attrs

_Q = (np.dtype(np.int8), np.dtype(np.uint8))
_Q16 = (np.dtype(np.int16), np.dtype(np.uint16))
_QATTRS = {"x_zero": 0, "y_zero": 0, "relu": 0, "out_unsigned": 0, "out_int32": 0}


def _qfields(graph: Graph, node: Node, op: OpDef) -> dict:
    x = graph.values[node.inputs[0]]
    return {"in_zero": int(op.attr(node, "x_zero")), "out_zero": int(op.attr(node, "y_zero")),
            "in_unsigned": int(np.dtype(x.dtype) in (np.uint8, np.uint16)), "out_unsigned": int(op.attr(node, "out_unsigned")),
            "relu": int(op.attr(node, "relu")), "out_int32": int(op.attr(node, "out_int32"))}


def _wide(graph: Graph, node: Node) -> bool:
    """A 16-bit layer (int16 weights; DASH_Q*_i16) rather than an 8-bit one."""
    return np.dtype(graph.values[node.inputs[1]].dtype) == np.int16


def _args(node: Node, wide: bool = False) -> list:
    bias, t = node.input(2), "int16_t" if wide else "int8_t"
    return [TensorArg(node.inputs[0], cast=t), TensorArg(node.inputs[1], cast=t),
            TensorArg(bias, cast="int32_t") if bias else NullArg("int32_t"),
            TensorArg(node.input(3)) if node.input(3) else NullArg("float"),
            TensorArg(node.outputs[0], cast=t)]


class _QOp(OpDef):
    domain = "onnx2cedr.ext"
    dtypes = _Q + _Q16
    has_infer = True

    def _out_dtype(self, node: Node, wide: bool = False) -> np.dtype:
        if int(self.attr(node, "out_int32")):
            return np.dtype(np.int32)
        u = int(self.attr(node, "out_unsigned"))
        if wide:
            return np.dtype(np.uint16) if u else np.dtype(np.int16)
        return np.dtype(np.uint8) if u else np.dtype(np.int8)

    def check_node(self, graph, node):
        w = graph.values.get(node.input(1))
        x = graph.values.get(node.inputs[0])
        if w is not None and (np.dtype(w.dtype) not in (np.int8, np.int16) or not w.is_const):
            raise Unsupported("weights must be an int8 or int16 constant")
        if w is not None and x is not None and (np.dtype(x.dtype) in _Q16) != (np.dtype(w.dtype) == np.int16):
            raise Unsupported("16-bit activations need int16 weights (and 8-bit ones int8 weights)")
        if w is not None and np.dtype(w.dtype) == np.int16 and int(self.attr(node, "out_int32")):
            raise Unsupported("int32 outputs (out_int32) of a 16-bit layer are not supported")


@register
class QConv(_QOp):
    op_type = "QConv"
    attrs = {"auto_pad": "NOTSET", "dilations": None, "group": 1, "kernel_shape": None, "pads": None,
             "strides": None, **_QATTRS}
    api = "DASH_QCONV"
    summary = "int8 or int16 convolution with requantization (fused from a QDQ Conv)"

    def _geometry(self, graph: Graph, node: Node):
        x, w = graph.values[node.inputs[0]], graph.values[node.inputs[1]]
        rank = len(x.shape) - 2
        kernel, strides, dilations, pads, auto_pad = spatial_attrs(self, node, rank, w.shape[2:])
        out = []
        for i in range(rank):
            span = (kernel[i] - 1) * dilations[i] + 1
            if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                out.append(-(-x.shape[2 + i] // strides[i]))
            else:
                p = 0 if auto_pad == "VALID" else pads[i] + pads[rank + i]
                out.append((x.shape[2 + i] + p - span) // strides[i] + 1)
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            begin = same_pads(x.shape[2:], out, kernel, strides, dilations, auto_pad)
        else:
            begin = [0] * rank if auto_pad == "VALID" else pads[:rank]
        return kernel, strides, dilations, begin, out

    def infer(self, graph, node):
        x, w = graph.values[node.inputs[0]], graph.values[node.inputs[1]]
        out = self._geometry(graph, node)[4]
        return [(self._out_dtype(node, _wide(graph, node)), (x.shape[0], w.shape[0], *out))]

    def flops(self, graph, node):
        w = graph.values[node.inputs[1]]
        return 2 * graph.values[node.outputs[0]].size * int(np.prod(w.shape[1:]))

    def lower(self, graph, node):
        x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
        kernel, strides, dilations, begin, _ = self._geometry(graph, node)
        conv = {"spatial_rank": len(x.shape) - 2, "has_bias": int(bool(node.input(2))), "batch": x.shape[0],
                "in_channels": x.shape[1], "out_channels": y.shape[1], "groups": int(self.attr(node, "group")),
                "in_size": pad3(x.shape[2:], 1), "out_size": pad3(y.shape[2:], 1), "kernel": pad3(kernel, 1),
                "stride": pad3(strides, 1), "dilation": pad3(dilations, 1), "pad_begin": pad3(begin, 0)}
        wide = _wide(graph, node)
        call = Call("o2c_qconv16" if wide else "o2c_qconv", _args(node, wide),
                    Params("dash_qconv_params_t", {"conv": conv, **_qfields(graph, node, self)}),
                    api="DASH_QCONV", prec="i16" if wide else "i8", flops=self.flops(graph, node))
        return Lowered([call], reason=f"{len(x.shape) - 2}-D int{16 if wide else 8} convolution: DASH_QCONV")


@register
class QGemm(_QOp):
    op_type = "QGemm"
    attrs = {"trans_b": 0, **_QATTRS}
    api = "DASH_QGEMM"
    summary = "int8 or int16 matrix product with requantization (fused from a QDQ Gemm or MatMul)"

    def _mnk(self, graph, node):
        a, w = graph.values[node.inputs[0]], graph.values[node.inputs[1]]
        if len(a.shape) != 2 or len(w.shape) != 2:
            raise Unsupported("A and B must be 2-D")
        n = w.shape[0] if int(self.attr(node, "trans_b")) else w.shape[1]
        return a.shape[0], n, a.shape[1]

    def infer(self, graph, node):
        m, n, _ = self._mnk(graph, node)
        return [(self._out_dtype(node, _wide(graph, node)), (m, n))]

    def flops(self, graph, node):
        m, n, k = self._mnk(graph, node)
        return 2 * m * n * k

    def lower(self, graph, node):
        m, n, k = self._mnk(graph, node)
        fields = {"M": m, "N": n, "K": k, "trans_b": int(self.attr(node, "trans_b")), **_qfields(graph, node, self)}
        wide = _wide(graph, node)
        call = Call("o2c_qgemm16" if wide else "o2c_qgemm", _args(node, wide), Params("dash_qgemm_params_t", fields),
                    api="DASH_QGEMM", prec="i16" if wide else "i8", flops=self.flops(graph, node))
        return Lowered([call], reason=f"int{16 if wide else 8} matrix product: DASH_QGEMM")


# ---- QOperator layers: lowered onto QConv / QGemm by the lower_qoperator pass ----
def _scalar_qparams(graph: Graph, scale: str, zero: str):
    s = graph.const(scale) if scale else None
    z = graph.const(zero) if zero else None
    if s is None or z is None or s.size != 1 or z.size != 1:
        return "scales and zero points must be scalar constants"
    if np.dtype(s.dtype) != np.float32 or np.dtype(z.dtype) not in _Q:
        return "scales must be float32 and zero points int8 or uint8"
    return np.float32(s.reshape(())), int(z.reshape(())), np.dtype(z.dtype)


def _int8_weights(graph: Graph, w_name: str, s_name: str, z_name: str, channels: int, axis: int):
    w, s = graph.const(w_name), graph.const(s_name)
    z = graph.const(z_name) if z_name else np.zeros((), np.int8)
    if w is None or s is None or z is None:
        return "weights, their scale and zero point must be constants"
    if np.dtype(w.dtype) not in _Q or np.dtype(s.dtype) != np.float32:
        return "weights must be int8 or uint8 with a float32 scale"
    if s.size not in (1, channels) or z.size not in (1, channels):
        return "weight scale and zero point must be per tensor or per output channel"
    shape = [1] * w.ndim
    shape[axis] = -1
    wz = w.astype(np.int32) - (z.astype(np.int32).reshape(shape) if z.size > 1 else int(z.reshape(())))
    if wz.size and (wz.min() < -128 or wz.max() > 127):
        return "weights minus their zero point must fit int8"
    return wz.astype(np.int8), np.broadcast_to(s.astype(np.float32).reshape(-1), (channels,)).astype(np.float32)


def qoperator_plan(graph: Graph, node: Node):
    """How a QLinearConv / QLinearMatMul / com.microsoft QGemm node becomes a QConv / QGemm: a dict
    (op, attrs, int8 weight with zero point 0, int32 bias or None, float32 multiplier), or the reason
    it cannot (a string). The multiplier is float32(x_scale * w_scale[n]) / y_scale."""
    if node.op in ("ConvInteger", "MatMulInteger"):
        return _integer_plan(graph, node)
    if node.op == "QGemm":
        xs, xz, w, ws, wz = (node.input(i) for i in range(1, 6))
        bias_in, ys, yz = node.input(6), node.input(7), node.input(8)
        if not ys:
            return "a float output (no y_scale) is not supported"
        if float(node.attrs.get("alpha", 1.0)) != 1.0 or int(node.attrs.get("transA", 0)):
            return "alpha must be 1 and transA 0"
    else:
        xs, xz, w, ws, wz, ys, yz = (node.input(i) for i in range(1, 8))
        bias_in = node.input(8) if node.op == "QLinearConv" else ""
    x, y = graph.values.get(node.inputs[0]), graph.values.get(node.outputs[0])
    if x is None or y is None or x.shape is None or y.shape is None:
        return "shapes must be known"
    xq, yq = _scalar_qparams(graph, xs, xz), _scalar_qparams(graph, ys, yz)
    for q in (xq, yq):
        if isinstance(q, str):
            return q
    if node.op == "QLinearConv":
        channels, axis, op = y.shape[1], 0, "QConv"
        attrs = {k: node.attrs[k] for k in ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
                 if k in node.attrs}
    else:
        if len(x.shape) != 2 or len(y.shape) != 2:
            return "A must be 2-D"
        trans_b = int(node.attrs.get("transB", 0)) if node.op == "QGemm" else 0
        channels, axis, op = y.shape[1], 0 if trans_b else 1, "QGemm"
        attrs = {"trans_b": trans_b}
    wq = _int8_weights(graph, w, ws, wz, channels, axis)
    if isinstance(wq, str):
        return wq
    bias = None
    if bias_in:
        b = graph.const(bias_in)
        if b is None or np.dtype(b.dtype) != np.int32 or b.size != channels:
            return "the bias must be an int32 constant, one value per output channel"
        bias = b.reshape(channels).astype(np.int32)
    mult = ((xq[0] * wq[1]).astype(np.float32) / yq[0]).astype(np.float32)
    attrs.update({"x_zero": xq[1], "y_zero": yq[1], "relu": 0, "out_unsigned": int(yq[2] == np.uint8)})
    return {"op": op, "attrs": attrs, "weight": wq[0], "bias": bias, "multiplier": mult}


def _integer_plan(graph: Graph, node: Node):
    """ConvInteger / MatMulInteger: int32 accumulators (QConv / QGemm with out_int32), no requantization."""
    x, y = graph.values.get(node.inputs[0]), graph.values.get(node.outputs[0])
    if x is None or y is None or x.shape is None or y.shape is None:
        return "shapes must be known"
    xz = graph.const(node.input(2)) if node.input(2) else np.zeros((), np.uint8)
    if xz is None or xz.size != 1:
        return "the input's zero point must be a scalar constant"
    if node.op == "ConvInteger":
        channels, axis, op = y.shape[1], 0, "QConv"
        attrs = {k: node.attrs[k] for k in ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")
                 if k in node.attrs}
    else:
        if len(x.shape) != 2 or len(y.shape) != 2:
            return "A must be 2-D"
        channels, axis, op = y.shape[1], 1, "QGemm"
        attrs = {"trans_b": 0}
    w = graph.const(node.inputs[1])
    if w is None:
        return "the weights must be a constant"
    wz = node.input(3)
    wq = _int8_weights_noscale(graph, node.inputs[1], wz, channels, axis)
    if isinstance(wq, str):
        return wq
    attrs.update({"x_zero": int(xz.reshape(())), "y_zero": 0, "relu": 0, "out_unsigned": 0, "out_int32": 1})
    return {"op": op, "attrs": attrs, "weight": wq, "bias": None, "multiplier": None}


def _int8_weights_noscale(graph: Graph, w_name: str, z_name: str, channels: int, axis: int):
    w = graph.const(w_name)
    z = graph.const(z_name) if z_name else np.zeros((), np.int8)
    if w is None or z is None:
        return "weights and their zero point must be constants"
    if np.dtype(w.dtype) not in _Q:
        return "weights must be int8 or uint8"
    if z.size not in (1, channels):
        return "the weights' zero point must be per tensor or per output channel"
    shape = [1] * w.ndim
    shape[axis] = -1
    wz = w.astype(np.int32) - (z.astype(np.int32).reshape(shape) if z.size > 1 else int(z.reshape(())))
    if wz.size and (wz.min() < -128 or wz.max() > 127):
        return "weights minus their zero point must fit int8"
    return wz.astype(np.int8)


class _QOperator(OpDef):
    dtypes = _Q
    has_infer = True

    def _y_dtype(self, graph: Graph, node: Node) -> np.dtype:
        z = graph.values.get(node.input(self.Y_ZERO))
        return np.dtype(z.dtype) if z is not None else np.dtype(np.uint8)

    def check_node(self, graph, node):
        plan = qoperator_plan(graph, node)
        if isinstance(plan, str):
            raise Unsupported(plan)

    def lower(self, graph, node):
        raise Unsupported(f"{node.op} is lowered by the lower_qoperator pass (disabled?)")


class _QOperatorConv(_QOperator):
    """QLinearConv and ConvInteger: a convolution whose weight is input W_INPUT."""
    W_INPUT = 1

    def _out_dtype(self, graph, node) -> np.dtype:
        raise NotImplementedError

    def infer(self, graph, node):
        x, w = graph.values[node.inputs[0]], graph.values[node.inputs[self.W_INPUT]]
        shadow = Node("QConv", node.name, [node.inputs[0], node.inputs[self.W_INPUT]], node.outputs, dict(node.attrs))
        out = QConv._geometry(QConv(), graph, shadow)[4]
        return [(self._out_dtype(graph, node), (x.shape[0], w.shape[0], *out))]

    def flops(self, graph, node):
        w = graph.values[node.inputs[self.W_INPUT]]
        return 2 * graph.values[node.outputs[0]].size * int(np.prod(w.shape[1:]))


@register
class QLinearConv(_QOperatorConv):
    op_type = "QLinearConv"
    attrs = {"auto_pad": "NOTSET", "dilations": None, "group": 1, "kernel_shape": None, "pads": None,
             "strides": None}
    Y_ZERO = 7
    api = "DASH_QCONV"
    summary = "QOperator int8 convolution: lowered onto QConv (DASH_QCONV_i8)"

    W_INPUT = 3

    def _out_dtype(self, graph, node):
        return self._y_dtype(graph, node)


def qlinear_matmul_exact(graph: Graph, node: Node):
    """Whether a QLinearMatMul can become the exact float64 product of lower_qoperator._exact_matmul:
    ({role: constant or None}, the output's integer type), or the reason it cannot (a string). The
    scales and zero points must be constants: per tensor, B's per tensor or per column."""
    a_s, a_z, b_s, b_z, y_s, y_z = (node.input(i) for i in (1, 2, 4, 5, 6, 7))
    consts = {k: graph.const(v) if v else None for k, v in
              (("as", a_s), ("az", a_z), ("bs", b_s), ("bz", b_z), ("ys", y_s), ("yz", y_z))}
    if any(consts[k] is None for k in ("as", "bs", "ys")) or (a_z and consts["az"] is None) or \
            (b_z and consts["bz"] is None) or (y_z and consts["yz"] is None):
        return "scales and zero points must be constants"
    av, bv, yv = (graph.values.get(v) for v in (node.input(0), node.input(3), node.outputs[0]))
    if av is None or bv is None or yv is None or len(bv.shape) < 2:
        return "shapes must be known"
    n = bv.shape[-1]
    if consts["as"].size != 1 or consts["ys"].size != 1 or consts["bs"].size not in (1, n) or \
            (a_z and consts["az"].size != 1) or (b_z and consts["bz"].size not in (1, n)) or \
            (y_z and consts["yz"].size != 1):
        return "scales and zero points must be per tensor (B's: or per column)"
    if any(consts[k].dtype.kind != "f" for k in ("as", "bs", "ys")):
        return "scales must be of a float type"
    qt = np.dtype(consts["yz"].dtype) if y_z else np.dtype(av.dtype)
    if qt.kind not in "iu" or np.dtype(yv.dtype) != qt:
        return "the output must be of the zero point's integer type"
    return consts, qt


@register
class QLinearMatMul(_QOperator):
    op_type = "QLinearMatMul"
    attrs = {}
    Y_ZERO = 7
    api = "DASH_QGEMM"
    summary = ("QOperator int8 matrix product: lowered onto QGemm (DASH_QGEMM_i8); batched, float16 scales or "
               "weights beyond int8 after their zero point: an exact float64 product (lower_qoperator)")

    def check_node(self, graph, node):
        plan = qoperator_plan(graph, node)
        if isinstance(plan, str):
            exact = qlinear_matmul_exact(graph, node)
            if isinstance(exact, str):
                raise Unsupported(f"{plan}; the exact float64 product: {exact}")

    def infer(self, graph, node):
        a, b = graph.values[node.inputs[0]], graph.values[node.inputs[3]]
        if len(a.shape) < 2 or len(b.shape) < 2 or a.shape[-1] != b.shape[-2]:
            raise Unsupported(f"A {list(a.shape)} and B {list(b.shape)} do not multiply (both at least 2-D)")
        try:
            batch = np.broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
        except ValueError:
            raise Unsupported(f"the batch dimensions of A {list(a.shape)} and B {list(b.shape)} do not broadcast") from None
        return [(self._y_dtype(graph, node), (*batch, a.shape[-2], b.shape[-1]))]

    def flops(self, graph, node):
        a, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
        return 2 * y.size * a.shape[-1]


@register
class QGemmMS(_QOperator):
    op_type = "QGemm"
    domain = "com.microsoft"
    attrs = {"alpha": 1.0, "transA": 0, "transB": 0}
    Y_ZERO = 8
    api = "DASH_QGEMM"
    summary = "onnxruntime's QOperator int8 Gemm: lowered onto QGemm (DASH_QGEMM_i8)"

    def infer(self, graph, node):
        a, b = graph.values[node.inputs[0]], graph.values[node.inputs[3]]
        if len(a.shape) != 2 or len(b.shape) != 2:
            raise Unsupported("A and B must be 2-D")
        m = a.shape[1] if int(self.attr(node, "transA")) else a.shape[0]
        n = b.shape[0] if int(self.attr(node, "transB")) else b.shape[1]
        dt = self._y_dtype(graph, node) if node.input(7) else np.dtype(np.float32)
        return [(dt, (m, n))]

    def flops(self, graph, node):
        a = graph.values[node.inputs[0]]
        return 2 * int(np.prod(a.shape)) * graph.values[node.outputs[0]].shape[1]


@register
class ConvInteger(_QOperatorConv):
    op_type = "ConvInteger"
    attrs = {"auto_pad": "NOTSET", "dilations": None, "group": 1, "kernel_shape": None, "pads": None,
             "strides": None}
    api = "DASH_QCONV"
    summary = "integer convolution to int32: lowered onto QConv (DASH_QCONV_i8, out_int32)"

    def _out_dtype(self, graph, node):
        return np.dtype(np.int32)


@register
class MatMulInteger(_QOperator):
    op_type = "MatMulInteger"
    attrs = {}
    api = "DASH_QGEMM"
    summary = "integer matrix product to int32: lowered onto QGemm (DASH_QGEMM_i8, out_int32)"

    def infer(self, graph, node):
        a, b = graph.values[node.inputs[0]], graph.values[node.inputs[1]]
        if len(a.shape) < 2 or len(b.shape) != 2:
            raise Unsupported("B must be 2-D and A at least 2-D")
        return [(np.dtype(np.int32), (*a.shape[:-1], b.shape[1]))]

    def flops(self, graph, node):
        a, b = graph.values[node.inputs[0]], graph.values[node.inputs[1]]
        return 2 * int(np.prod(a.shape)) * b.shape[1]


def qlinear_add_check(graph: Graph, node: Node) -> str | None:
    """Why a com.microsoft QLinearAdd cannot become DequantizeLinear x2 -> Add -> QuantizeLinear (None: it can)."""
    for si, zi in ((1, 2), (4, 5), (6, 7)):
        sc = graph.const(node.input(si)) if node.input(si) else None
        if sc is None or sc.size != 1 or np.dtype(sc.dtype) != np.float32:
            return "scales must be float32 scalar constants"
        if node.input(zi):
            z = graph.const(node.input(zi))
            if z is None or z.size != 1 or np.dtype(z.dtype) not in _Q:
                return "zero points must be int8/uint8 scalar constants"
    return None


@register
class QLinearAddMS(OpDef):
    op_type = "QLinearAdd"
    domain = "com.microsoft"
    attrs = {}
    dtypes = _Q
    has_infer = True
    summary = "onnxruntime's QOperator Add: DequantizeLinear x2 -> Add -> QuantizeLinear (lower_qoperator)"

    def infer(self, graph, node):
        a, b = graph.values[node.inputs[0]], graph.values[node.inputs[3]]
        return [(np.dtype(a.dtype), tuple(np.broadcast_shapes(tuple(a.shape), tuple(b.shape))))]

    def check_node(self, graph, node):
        why = qlinear_add_check(graph, node)
        if why:
            raise Unsupported(why)

    def lower(self, graph, node):
        raise Unsupported("QLinearAdd is lowered by the lower_qoperator pass (disabled?)")
