"""Fold an inference-mode BatchNormalization into the weights and bias of the layer before it.

    y = (x - mean) / sqrt(var + eps) * scale + B  =  x * s + (B - mean * s),  s = scale / sqrt(var + eps)

The producer can be Conv or ConvTranspose (any spatial rank, any group count), Gemm, MatMul with
a constant 2-D weight and a 2-D result (becomes a Gemm), or MatMul followed by an Add of a
constant bias. Legal only when the BN's parameters and the producer's weights (and bias) are
constants, the producer's output is read by the BN alone and is not a graph output, and the
producer has no fused activation (the BN's own, if any, moves to the producer). Numerics in
float64, cast back to the weight's type; the folded weights are new constants (a weight shared
with another node is never changed in place).
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import FLOAT_TYPES, Pass, float_attr, int_attr, merge_follower, single_output, sole_consumer


def _bn_params(graph: Graph, bn: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """(s, t) with BN(x) = x * s + t per channel, or None when BN is not a constant inference BN."""
    if bn.domain or int_attr(bn, "training_mode", 0) != 0 or single_output(bn) is None or len(bn.inputs) < 5:
        return None
    params = [graph.const(i) for i in bn.inputs[1:5]]
    if any(p is None for p in params):
        return None
    scale, bias, mean, var = (np.asarray(p, dtype=np.float64).reshape(-1) for p in params)
    eps = float_attr(bn, "epsilon", 1e-5)
    s = scale / np.sqrt(var + eps)
    return s, bias - mean * s


def _new_const(graph: Graph, base: str, data: np.ndarray) -> str:
    name = graph.fresh_name(base)
    graph.add_const(name, data)
    return name


class FoldBatchNorm(Pass):
    NAME = "fold_batchnorm"

    def apply(self, graph: Graph) -> bool:
        changed = False
        producers, consumers = graph.producers(), graph.consumers()
        for bn in [n for n in graph.nodes if n.op == "BatchNormalization"]:
            st = _bn_params(graph, bn)
            if st is None:
                continue
            x = bn.inputs[0]
            prod = producers.get(x)
            if prod is None or prod.act is not None or prod.domain or single_output(prod) != x:
                continue
            if sole_consumer(graph, x, consumers) is not bn:
                continue
            vx = graph.values.get(x)
            if vx is None or vx.dtype not in FLOAT_TYPES or len(vx.shape) < 2:
                continue
            channels = vx.shape[1]
            s, t = st
            if len(s) not in (1, channels):
                continue
            if len(s) != channels:
                s, t = np.broadcast_to(s, (channels,)), np.broadcast_to(t, (channels,))
            ok = False
            if prod.op in ("Conv", "ConvTranspose"):
                ok = self._fold_conv(graph, prod, s, t, channels)
            elif prod.op == "Gemm":
                ok = self._fold_gemm(graph, prod, s, t, channels)
            elif prod.op == "MatMul":
                ok = self._fold_matmul(graph, prod, s, t, channels)
            elif prod.op == "Add":
                ok = self._fold_matmul_add(graph, prod, s, t, channels, producers, consumers)
            if ok:
                merge_follower(graph, prod, bn, producers, consumers)
                changed = True
        return changed

    # ---- per producer; each either rewrites the producer's constants and returns True, or
    # touches nothing and returns False ----
    @staticmethod
    def _fold_conv(graph: Graph, conv: Node, s, t, channels: int) -> bool:
        w = graph.const(conv.input(1))
        b = graph.const(conv.input(2))
        if w is None or (conv.input(2) and b is None) or w.ndim < 3:
            return False
        w64 = w.astype(np.float64)
        if conv.op == "Conv":
            if w.shape[0] != channels:
                return False
            w_new = w64 * s.reshape((-1,) + (1,) * (w.ndim - 1))
        else:  # ConvTranspose: W is (C_in, M/groups, k...), output channel = g * M/groups + j
            g = int_attr(conv, "group", 1)
            per = w.shape[1]
            if per * g != channels or w.shape[0] % g:
                return False
            wg = w64.reshape((g, w.shape[0] // g, per) + w.shape[2:])
            w_new = (wg * s.reshape((g, 1, per) + (1,) * (w.ndim - 2))).reshape(w.shape)
        b64 = np.zeros(channels) if b is None else b.astype(np.float64).reshape(-1)
        b_new = b64 * s + t
        conv.inputs = list(conv.inputs[:1]) + [
            _new_const(graph, f"{conv.name}_weight_bnfold", w_new.astype(w.dtype)),
            _new_const(graph, f"{conv.name}_bias_bnfold", b_new.astype(w.dtype))]
        return True

    @staticmethod
    def _fold_gemm(graph: Graph, gemm: Node, s, t, channels: int) -> bool:
        w = graph.const(gemm.input(1))
        c = graph.const(gemm.input(2))
        if w is None or w.ndim != 2 or (gemm.input(2) and c is None):
            return False
        trans_b = int_attr(gemm, "transB", 0)
        n = w.shape[0] if trans_b else w.shape[1]
        if n != channels:
            return False
        w_new = w.astype(np.float64) * (s[:, None] if trans_b else s[None, :])
        beta = float_attr(gemm, "beta", 1.0)
        c64 = np.zeros(channels) if c is None else beta * c.astype(np.float64)
        c_new = c64 * s + t  # broadcasts (scalar, (N,), (1,N), (M,1), (M,N)) against (N,)
        if c_new.ndim > 2:
            return False
        gemm.inputs = [gemm.inputs[0],
                       _new_const(graph, f"{gemm.name}_weight_bnfold", w_new.astype(w.dtype)),
                       _new_const(graph, f"{gemm.name}_bias_bnfold", c_new.astype(w.dtype))]
        gemm.attrs["beta"] = 1.0
        return True

    @staticmethod
    def _fold_matmul(graph: Graph, mm: Node, s, t, channels: int) -> bool:
        """MatMul(x, W) with a 2-D result: BN's channel axis is W's columns; becomes a Gemm."""
        w = graph.const(mm.input(1))
        vx = graph.values.get(mm.input(0))
        if w is None or w.ndim != 2 or vx is None or len(vx.shape) != 2 or w.shape[1] != channels:
            return False
        w_new = w.astype(np.float64) * s[None, :]
        mm.op = "Gemm"
        mm.attrs = {}
        mm.inputs = [mm.inputs[0],
                     _new_const(graph, f"{mm.name}_weight_bnfold", w_new.astype(w.dtype)),
                     _new_const(graph, f"{mm.name}_bias_bnfold", t.astype(w.dtype))]
        return True

    @staticmethod
    def _fold_matmul_add(graph: Graph, add: Node, s, t, channels: int, producers, consumers) -> bool:
        """MatMul(x, W) + bias with a 2-D result: scale W's columns, rewrite the bias."""
        vy = graph.values.get(add.outputs[0])
        if vy is None or len(vy.shape) != 2 or len(add.inputs) != 2:
            return False
        for k in (0, 1):
            mm_out, bias_name = add.inputs[k], add.inputs[1 - k]
            mm = producers.get(mm_out)
            bias = graph.const(bias_name)
            if mm is None or mm.op != "MatMul" or bias is None or mm.act is not None or mm.domain:
                continue
            if sole_consumer(graph, mm_out, consumers) is not add:
                continue
            w = graph.const(mm.input(1))
            if w is None or w.ndim != 2 or w.shape[1] != channels:
                continue
            if np.broadcast_shapes(bias.shape, vy.shape) != vy.shape:
                continue
            w_new = w.astype(np.float64) * s[None, :]
            b_new = bias.astype(np.float64) * s + t
            mm.inputs = [mm.inputs[0], _new_const(graph, f"{mm.name}_weight_bnfold", w_new.astype(w.dtype))]
            add.inputs = [mm_out, _new_const(graph, f"{add.name}_bias_bnfold", b_new.astype(bias.dtype))]
            return True
        return False


PASS = FoldBatchNorm()
