"""Fuse a binarized layer into one XNOR/popcount layer (BGemm -> DASH_BGEMM_b1, BConv -> DASH_BCONV_b1):

    Where(GreaterOrEqual(x, 0), s, -s) -> MatMul | Gemm(., W[, C])    (W bipolar: column n is +-a_n)
    Where(GreaterOrEqual(x, 0), s, -s) -> Conv(., W[, B])              (W[o] is +-a_o; 2-D, group 1, no pads)

becomes BGemm(x, bits(W > 0), scale = s * a_n * alpha, bias = beta * C): the kernel binarizes x itself
(1 for x >= 0) and computes scale[n] * (K - 2 popcount(x bits XOR w bits)) + bias[n]. The Where is
what a BipolarQuant becomes (lower_qonnx) and what `quantize --scheme binary` writes; W is a
BipolarQuant of a constant after constant folding, or any constant whose columns are +-a_n (a
BatchNormalization folded into the layer keeps it so: it scales columns).

Legal when: x is float32 and 2-D; the 0, s and -s are constants of one element (s may be any value,
its sign goes into the scale); the layer is MatMul with a 2-D constant W, or Gemm with a 2-D constant
W, transA = 0 and C absent or a constant of one value per column; every |W| of a column is the same;
the layer has no fused activation. A Conv: 2-D, group 1, no padding (ONNX pads the bipolar input with
zeros, which a bit cannot hold), a constant bias per output channel. Runs in the fusion flow after
fold_batchnorm / fuse_bias (so that their folds land in W and C first) and before fuse_activation.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..ops.binary import pack_bits, pack_conv_bits
from .common import Pass

_F32 = np.dtype(np.float32)


def _scalar(graph: Graph, name: str) -> float | None:
    c = graph.const(name)
    return None if c is None or c.size != 1 else float(c.reshape(()))


def bipolar_source(graph: Graph, producers: dict, name: str) -> tuple[str, float] | None:
    """(x, s) when `name` is Where(GreaterOrEqual(x, 0), s, -s), else None."""
    where = producers.get(name)
    if where is None or where.op != "Where" or where.domain or len(where.inputs) != 3:
        return None
    ge = producers.get(where.inputs[0])
    if ge is None or ge.op != "GreaterOrEqual" or ge.domain or _scalar(graph, ge.input(1)) != 0.0:
        return None
    s, neg = _scalar(graph, where.inputs[1]), _scalar(graph, where.inputs[2])
    x = graph.values.get(ge.inputs[0])
    if s is None or neg is None or np.float32(neg) != -np.float32(s) or x is None or np.dtype(x.dtype) != _F32:
        return None
    if graph.values[name].shape != x.shape:
        return None
    return ge.inputs[0], s


def bipolar_weights(w: np.ndarray) -> np.ndarray | None:
    """a_n when every row n of w (N x K) is +-a_n, else None."""
    if w.ndim != 2 or np.dtype(w.dtype) != _F32 or not np.all(np.isfinite(w)):
        return None
    a = np.abs(w[:, :1])
    if not np.array_equal(np.abs(w), np.broadcast_to(a, w.shape)):
        return None
    return a.reshape(-1)


class FuseBinary(Pass):
    NAME = "fuse_binary"

    def apply(self, graph: Graph) -> bool:
        changed = False
        for layer in [n for n in graph.nodes if n.op in ("MatMul", "Gemm", "Conv") and not n.domain]:
            changed |= self._fuse_conv(graph, layer) if layer.op == "Conv" else self._fuse(graph, layer)
        return changed

    @staticmethod
    def _fuse_conv(graph: Graph, conv: Node) -> bool:
        """Conv(Where(x >= 0, s, -s), W[, B]): 2-D, group 1, no padding -> BConv."""
        if conv.act is not None:
            return False
        src = bipolar_source(graph, graph.producers(), conv.inputs[0])
        w = graph.const(conv.input(1))
        if src is None or w is None or w.ndim != 4 or len(graph.values[src[0]].shape) != 4:
            return False
        a = conv.attrs
        if int(a.get("group", 1)) != 1 or any(int(p) for p in (a.get("pads") or [])) or \
                (a.get("auto_pad") or "NOTSET") not in ("NOTSET", "VALID"):
            return False
        if a.get("kernel_shape") and list(a["kernel_shape"]) != list(w.shape[2:]):
            return False
        oc = w.shape[0]
        mag = bipolar_weights(np.ascontiguousarray(w.reshape(oc, -1)))
        if mag is None:
            return False
        bias = ""
        if conv.input(2):
            b = graph.const(conv.input(2))
            if b is None or b.size != oc:
                return False
            bias = graph.add_const(graph.fresh_name(f"{conv.name}_bbias"), b.reshape(oc).astype(np.float32)).name
        scale = (np.float32(src[1]) * mag.astype(np.float32)).astype(np.float32)
        w_name = graph.add_const(graph.fresh_name(f"{conv.name}_bweight"), pack_conv_bits(w)).name
        s_name = graph.add_const(graph.fresh_name(f"{conv.name}_bscale"), scale).name
        attrs = {"kernel_shape": [int(k) for k in w.shape[2:]],
                 "strides": [int(v) for v in (a.get("strides") or [1, 1])],
                 "dilations": [int(v) for v in (a.get("dilations") or [1, 1])]}
        node = Node("BConv", graph.fresh_node_name(f"{conv.name}_xnor"), [src[0], w_name, s_name, bias],
                    [conv.outputs[0]], attrs, domain="onnx2cedr.ext", fused_from=[conv.name])
        graph.nodes[graph.nodes.index(conv)] = node
        return True

    @staticmethod
    def _fuse(graph: Graph, layer: Node) -> bool:
        if layer.act is not None:
            return False
        src = bipolar_source(graph, graph.producers(), layer.inputs[0])
        w = graph.const(layer.input(1))
        if src is None or w is None or w.ndim != 2 or len(graph.values[src[0]].shape) != 2:
            return False
        a = layer.attrs
        alpha, beta, trans_b = 1.0, 1.0, 0
        if layer.op == "Gemm":
            if int(a.get("transA", 0)):
                return False
            alpha, beta, trans_b = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0)), int(a.get("transB", 0))
        wnk = w if trans_b else w.T
        mag = bipolar_weights(np.ascontiguousarray(wnk))
        if mag is None:
            return False
        n, k = wnk.shape
        bias = ""
        if layer.input(2):
            c = graph.const(layer.input(2))
            if c is None or c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1) or c.ndim > 2:
                return False
            b = (np.broadcast_to(c.astype(np.float32).reshape(-1), (n,)) * np.float32(beta)).astype(np.float32)
            bias = graph.add_const(graph.fresh_name(f"{layer.name}_bbias"), b).name
        scale = (np.float32(src[1]) * mag.astype(np.float32) * np.float32(alpha)).astype(np.float32)
        w_name = graph.add_const(graph.fresh_name(f"{layer.name}_bweight"), pack_bits(wnk > 0)).name
        s_name = graph.add_const(graph.fresh_name(f"{layer.name}_bscale"), scale).name
        node = Node("BGemm", graph.fresh_node_name(f"{layer.name}_xnor"), [src[0], w_name, s_name, bias],
                    [layer.outputs[0]], {"K": int(k)}, domain="onnx2cedr.ext", fused_from=[layer.name])
        graph.nodes[graph.nodes.index(layer)] = node
        return True


PASS = FuseBinary()
