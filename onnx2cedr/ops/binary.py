"""Binarized layers: BGemm and BConv (private domain), made by the fuse_binary pass from a MatMul/Gemm
(Conv) whose input is bipolar (Where(x >= 0, s, -s): a BipolarQuant written in standard ops) and whose
weights are a bipolar constant (every output channel +-a_n), lowered to DASH_BGEMM_b1 / DASH_BCONV_b1
(XNOR / popcount). BConv: 2-D, group 1, no padding (ONNX pads the bipolar input with zeros, which
bits cannot hold); weights packed by pack_conv_bits.

Inputs: x (float32 M x K, the values before the sign: the kernel binarizes them, 1 for x >= 0),
weight (uint64 constant N x ceil(K / 64): the weights' signs bit-packed by pack_bits, 1 bit each in the
weights file), scale (float32 constant per output channel: s * a_n), bias (float32 per channel, or
absent). out[m][n] = scale[n] * (K - 2 popcount(bits(x[m]) XOR weight[n])) + bias[n]."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, register


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """Rows of K booleans -> rows of ceil(K / 64) uint64 words, bit k % 64 of word k // 64 (zero beyond K)."""
    bits = np.asarray(bits, dtype=bool)
    rows, k = bits.shape
    words = (k + 63) // 64
    padded = np.zeros((rows, words * 64), dtype=bool)
    padded[:, :k] = bits
    return np.packbits(padded, axis=1, bitorder="little").view("<u8").reshape(rows, words).astype(np.uint64)


def pack_conv_bits(w: np.ndarray) -> np.ndarray:
    """Conv weights (OC, C, KH, KW) -> their signs (1: w > 0) as DASH_BCONV_b1 reads them: per output channel,
    for each tap (ky, kx), the C channels' bits in ceil(C / 64) words: (OC, KH * KW * ceil(C / 64)) uint64."""
    oc, c, kh, kw = w.shape
    taps = np.ascontiguousarray((w > 0).transpose(0, 2, 3, 1)).reshape(oc * kh * kw, c)
    return pack_bits(taps).reshape(oc, -1)


@register
class BConv(OpDef):
    op_type = "BConv"
    domain = "onnx2cedr.ext"
    attrs = {"kernel_shape": None, "strides": None, "dilations": None}
    has_infer = True
    api = "DASH_BCONV"
    summary = "binarized 2-D convolution, XNOR/popcount (fused from a bipolar Conv without padding)"

    def _geometry(self, graph: Graph, node: Node):
        x = graph.values[node.inputs[0]]
        if len(x.shape) != 4:
            raise Unsupported("a 2-D convolution (4-D input) only")
        k = list(self.attr(node, "kernel_shape"))
        st = list(self.attr(node, "strides") or [1, 1])
        dl = list(self.attr(node, "dilations") or [1, 1])
        out = [(x.shape[2 + i] - (k[i] - 1) * dl[i] - 1) // st[i] + 1 for i in range(2)]
        if min(out) < 1:
            raise Unsupported("the kernel is larger than the image")
        return k, st, dl, out

    def check_node(self, graph, node):
        w = graph.values.get(node.input(1))
        if w is not None and (np.dtype(w.dtype) != np.uint64 or not w.is_const):
            raise Unsupported("weights must be a packed uint64 constant")

    def infer(self, graph, node):
        x, w = graph.values[node.inputs[0]], graph.values[node.inputs[1]]
        out = self._geometry(graph, node)[3]
        return [(np.dtype(np.float32), (x.shape[0], w.shape[0], *out))]

    def flops(self, graph, node):
        x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
        k = self.attr(node, "kernel_shape")
        return 2 * y.size * x.shape[1] * k[0] * k[1]

    def lower(self, graph, node):
        x, y = graph.values[node.inputs[0]], graph.values[node.outputs[0]]
        k, st, dl, out = self._geometry(graph, node)
        fields = {"batch": x.shape[0], "in_channels": x.shape[1], "out_channels": y.shape[1],
                  "in_size": list(x.shape[2:]), "out_size": out, "kernel": k, "stride": st, "dilation": dl}
        bias = node.input(3)
        args = [TensorArg(node.inputs[0]), TensorArg(node.inputs[1], cast="uint64_t"), TensorArg(node.inputs[2]),
                TensorArg(bias) if bias else NullArg("float"), TensorArg(node.outputs[0])]
        call = Call("o2c_bconv", args, Params("dash_bconv_params_t", fields), api="DASH_BCONV", prec="b1",
                    flops=self.flops(graph, node))
        return Lowered([call], reason="binarized convolution (XNOR/popcount): DASH_BCONV")


@register
class BGemm(OpDef):
    op_type = "BGemm"
    domain = "onnx2cedr.ext"
    attrs = {"K": 0}
    has_infer = True
    api = "DASH_BGEMM"
    summary = "binarized matrix product, XNOR/popcount (fused from a bipolar MatMul/Gemm)"

    def _mnk(self, graph: Graph, node: Node):
        x, w = graph.values[node.inputs[0]], graph.values[node.inputs[1]]
        k = int(self.attr(node, "K"))
        if len(x.shape) != 2 or len(w.shape) != 2 or x.shape[1] != k or w.shape[1] != (k + 63) // 64:
            raise Unsupported(f"x {list(x.shape)} and packed weights {list(w.shape)} do not fit K={k}")
        return x.shape[0], w.shape[0], k

    def check_node(self, graph, node):
        w = graph.values.get(node.input(1))
        if w is not None and (np.dtype(w.dtype) != np.uint64 or not w.is_const):
            raise Unsupported("weights must be a packed uint64 constant")

    def infer(self, graph, node):
        m, n, _ = self._mnk(graph, node)
        return [(np.dtype(np.float32), (m, n))]

    def flops(self, graph, node):
        m, n, k = self._mnk(graph, node)
        return 2 * m * n * k

    def lower(self, graph, node):
        m, n, k = self._mnk(graph, node)
        bias = node.input(3)
        args = [TensorArg(node.inputs[0]), TensorArg(node.inputs[1], cast="uint64_t"), TensorArg(node.inputs[2]),
                TensorArg(bias) if bias else NullArg("float"), TensorArg(node.outputs[0])]
        call = Call("o2c_bgemm", args, Params("dash_bgemm_params_t", {"M": m, "N": n, "K": k}), api="DASH_BGEMM",
                    prec="b1", flops=2 * m * n * k)
        return Lowered([call], reason="binarized matrix product (XNOR/popcount): DASH_BGEMM")
