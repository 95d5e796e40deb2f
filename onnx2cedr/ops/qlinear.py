"""Integer layers of QDQ models: QConv and QGemm (private domain), made by the fuse_qdq pass from
DequantizeLinear -> Conv/Gemm/MatMul [-> Relu] -> QuantizeLinear -> DASH_QCONV_i8 / DASH_QGEMM_i8.

Inputs: x (int8/uint8), w (int8 constant, zero point 0), bias (int32 constant in scale x_scale *
w_scale, or absent), multiplier (float32 constant per output channel: x_scale * w_scale / y_scale).
The zero points, the Relu and the output's type are attributes."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, pad3, register
from .conv import same_pads, spatial_attrs

_Q = (np.dtype(np.int8), np.dtype(np.uint8))
_QATTRS = {"x_zero": 0, "y_zero": 0, "relu": 0, "out_unsigned": 0}


def _qfields(graph: Graph, node: Node, op: OpDef) -> dict:
    x = graph.values[node.inputs[0]]
    return {"in_zero": int(op.attr(node, "x_zero")), "out_zero": int(op.attr(node, "y_zero")),
            "in_unsigned": int(np.dtype(x.dtype) == np.uint8), "out_unsigned": int(op.attr(node, "out_unsigned")),
            "relu": int(op.attr(node, "relu"))}


def _args(node: Node) -> list:
    bias = node.input(2)
    return [TensorArg(node.inputs[0], cast="int8_t"), TensorArg(node.inputs[1], cast="int8_t"),
            TensorArg(bias, cast="int32_t") if bias else NullArg("int32_t"), TensorArg(node.inputs[3]),
            TensorArg(node.outputs[0], cast="int8_t")]


class _QOp(OpDef):
    domain = "onnx2cedr.ext"
    dtypes = _Q
    has_infer = True

    def _out_dtype(self, node: Node) -> np.dtype:
        return np.dtype(np.uint8) if int(self.attr(node, "out_unsigned")) else np.dtype(np.int8)

    def check_node(self, graph, node):
        w = graph.values.get(node.input(1))
        if w is not None and (np.dtype(w.dtype) != np.int8 or not w.is_const):
            raise Unsupported("weights must be an int8 constant")


@register
class QConv(_QOp):
    op_type = "QConv"
    attrs = {"auto_pad": "NOTSET", "dilations": None, "group": 1, "kernel_shape": None, "pads": None,
             "strides": None, **_QATTRS}
    api = "DASH_QCONV"
    summary = "int8 convolution with requantization (fused from a QDQ Conv)"

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
        return [(self._out_dtype(node), (x.shape[0], w.shape[0], *out))]

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
        call = Call("o2c_qconv", _args(node), Params("dash_qconv_params_t", {"conv": conv, **_qfields(graph, node, self)}),
                    api="DASH_QCONV", prec="i8", flops=self.flops(graph, node))
        return Lowered([call], reason=f"{len(x.shape) - 2}-D int8 convolution: DASH_QCONV")


@register
class QGemm(_QOp):
    op_type = "QGemm"
    attrs = {"trans_b": 0, **_QATTRS}
    api = "DASH_QGEMM"
    summary = "int8 matrix product with requantization (fused from a QDQ Gemm or MatMul)"

    def _mnk(self, graph, node):
        a, w = graph.values[node.inputs[0]], graph.values[node.inputs[1]]
        if len(a.shape) != 2 or len(w.shape) != 2:
            raise Unsupported("A and B must be 2-D")
        n = w.shape[0] if int(self.attr(node, "trans_b")) else w.shape[1]
        return a.shape[0], n, a.shape[1]

    def infer(self, graph, node):
        m, n, _ = self._mnk(graph, node)
        return [(self._out_dtype(node), (m, n))]

    def flops(self, graph, node):
        m, n, k = self._mnk(graph, node)
        return 2 * m * n * k

    def lower(self, graph, node):
        m, n, k = self._mnk(graph, node)
        fields = {"M": m, "N": n, "K": k, "trans_b": int(self.attr(node, "trans_b")), **_qfields(graph, node, self)}
        call = Call("o2c_qgemm", _args(node), Params("dash_qgemm_params_t", fields), api="DASH_QGEMM", prec="i8",
                    flops=self.flops(graph, node))
        return Lowered([call], reason="int8 matrix product: DASH_QGEMM")
