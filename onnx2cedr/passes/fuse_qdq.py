"""Fuse the QDQ pattern around a Conv, Gemm or MatMul into one integer layer (QConv / QGemm):

    DequantizeLinear(x_q), DequantizeLinear(w_q)[, DequantizeLinear(b_q)] -> Conv|Gemm|MatMul
        [-> Relu] -> QuantizeLinear -> y_q

becomes QConv|QGemm(x_q, w_q, b_q, multiplier) -> y_q, computed in int8 x int8 -> int32 (or, for
int16 models, int16 x int16 -> int64) and requantized with multiplier[n] = float32(x_scale *
w_scale[n]) / y_scale (onnxruntime's QLinearConv).

Legal when: x_q and y_q are int8 or uint8 (int16 or uint16) with scalar scales and zero points;
w_q is an int8 (int16) constant with zero point 0, per tensor or per output channel (Conv: axis 0; Gemm transB=1: axis 0;
Gemm transB=0 / MatMul: axis 1); the bias, if any, is a DequantizeLinear of an int32 constant with
zero point 0 and scale x_scale * w_scale (what onnxruntime.quantization writes); Gemm has alpha =
beta = 1, transA = 0 and a per-column bias; MatMul multiplies 2-D tensors; the float result (and
the Relu's) is read by the next node alone. The DequantizeLinear nodes stay for their other readers
(dead_code drops the rest). Runs before constant folding, which would fold the weights' DQ away.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import Pass, sole_consumer

_Q8 = (np.dtype(np.int8), np.dtype(np.uint8))
_Q16 = (np.dtype(np.int16), np.dtype(np.uint16))
_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


def _dq(graph: Graph, producers: dict, name: str) -> Node | None:
    n = producers.get(name)
    return n if n is not None and n.op == "DequantizeLinear" and not n.domain else None


def _scalar_qparams(graph: Graph, node: Node) -> tuple[float, int] | None:
    """(scale, zero point) of a Q/DQ node with scalar constant ones."""
    s = graph.const(node.input(1))
    z = graph.const(node.input(2)) if node.input(2) else np.zeros((), np.int8)
    if s is None or z is None or s.size != 1 or z.size != 1 or np.dtype(s.dtype) != np.float32:
        return None
    if node.attrs.get("block_size"):
        return None
    return float(s.reshape(())), int(z.reshape(()))


def _weight(graph: Graph, node: Node, channels: int, axis: int,
            wtype=np.int8) -> tuple[np.ndarray, np.ndarray] | None:
    """(int8 (wtype) weights, float32 scale per output channel) of a weight DequantizeLinear."""
    w, s = graph.const(node.inputs[0]), graph.const(node.input(1))
    z = graph.const(node.input(2)) if node.input(2) else None
    if w is None or s is None or np.dtype(w.dtype) != wtype or np.dtype(s.dtype) != np.float32:
        return None
    if node.input(2) and (z is None or np.any(z != 0)) or node.attrs.get("block_size"):
        return None
    if s.size == 1:
        return w, np.full((channels,), s.reshape(()), np.float32)
    ax = int(node.attrs.get("axis", 1))
    ax = ax + w.ndim if ax < 0 else ax
    if ax != axis or s.shape != (channels,):
        return None
    return w, s.astype(np.float32)


class FuseQDQ(Pass):
    NAME = "fuse_qdq"

    def apply(self, graph: Graph) -> bool:
        changed = False
        for q in [n for n in graph.nodes if n.op == "QuantizeLinear" and not n.domain]:
            if self._fuse(graph, q):
                changed = True
        return changed

    def _fuse(self, graph: Graph, q: Node) -> bool:
        producers, consumers = graph.producers(), graph.consumers()
        yq = _scalar_qparams(graph, q)
        ydt = np.dtype(graph.values[q.outputs[0]].dtype)
        if yq is None or ydt not in _Q8 + _Q16 or q.attrs.get("saturate", 1) != 1:
            return False
        wide = ydt in _Q16
        layer, relu = producers.get(q.inputs[0]), None
        if layer is not None and layer.op == "Relu" and not layer.domain:
            if sole_consumer(graph, layer.outputs[0], consumers) is not q:
                return False
            relu, layer = layer, producers.get(layer.inputs[0])
        if layer is None or layer.domain or layer.op not in ("Conv", "Gemm", "MatMul") or layer.act is not None:
            return False
        if sole_consumer(graph, layer.outputs[0], consumers) is not (relu or q):
            return False
        dx = _dq(graph, producers, layer.inputs[0])
        dw = _dq(graph, producers, layer.input(1))
        if dx is None or dw is None or np.dtype(graph.values[dx.inputs[0]].dtype) not in (_Q16 if wide else _Q8):
            return False
        xq = _scalar_qparams(graph, dx)
        if xq is None:
            return False
        y = graph.values[layer.outputs[0]]
        attrs: dict = {}
        if layer.op == "Conv":
            channels, axis, op = y.shape[1], 0, "QConv"
            attrs = {k: layer.attrs[k] for k in _CONV_ATTRS if k in layer.attrs}
        else:
            if len(y.shape) != 2 or len(graph.values[layer.inputs[0]].shape) != 2:
                return False
            a = layer.attrs
            trans_b = int(a.get("transB", 0)) if layer.op == "Gemm" else 0
            if layer.op == "Gemm" and (float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0
                                       or int(a.get("transA", 0))):
                return False
            channels, axis, op = y.shape[1], 0 if trans_b else 1, "QGemm"
            attrs = {"trans_b": trans_b}
        wq = _weight(graph, dw, channels, axis, np.int16 if wide else np.int8)
        if wq is None:
            return False
        w, w_scale = wq
        x_scale, y_scale = np.float32(xq[0]), np.float32(yq[0])
        bias = ""
        if layer.input(2):
            db = _dq(graph, producers, layer.input(2))
            if db is None:
                return False
            b, bs = graph.const(db.inputs[0]), graph.const(db.input(1))
            bz = graph.const(db.input(2)) if db.input(2) else None
            if b is None or bs is None or np.dtype(b.dtype) != np.int32 or b.size != channels:
                return False
            if db.input(2) and (bz is None or np.any(bz != 0)):
                return False
            want = (x_scale * w_scale).astype(np.float32)
            if not np.allclose(np.broadcast_to(bs.astype(np.float32).reshape(-1), want.shape), want, rtol=1e-6,
                               atol=0):
                return False
            bias = graph.add_const(graph.fresh_name(f"{layer.name}_qbias"), b.reshape(channels).astype(np.int32)).name
        mult = ((x_scale * w_scale).astype(np.float32) / y_scale).astype(np.float32)
        mult_name = graph.add_const(graph.fresh_name(f"{layer.name}_qmult"), mult).name
        attrs.update({"x_zero": xq[1], "y_zero": yq[1], "relu": int(relu is not None),
                      "out_unsigned": int(ydt in (np.uint8, np.uint16))})
        node = Node(op, graph.fresh_node_name(f"{layer.name}_int{16 if wide else 8}"), [dx.inputs[0], dw.inputs[0], bias, mult_name],
                    [q.outputs[0]], attrs, domain="onnx2cedr.ext",
                    fused_from=[layer.name] + ([relu.name] if relu else []) + [q.name])
        drop = {id(layer), id(q)} | ({id(relu)} if relu else set())
        at = graph.nodes.index(layer)
        graph.nodes = [n for n in graph.nodes[:at] if id(n) not in drop] + [node] + \
            [n for n in graph.nodes[at:] if id(n) not in drop]
        return True


PASS = FuseQDQ()
