"""Fold an Add of a constant into the layer before it.

- Conv/ConvTranspose + Add(c), c a per-output-channel constant (after numpy broadcasting against
  the conv's output (N, C, spatial...): shape (1, C, 1, ...) with leading 1s optional, e.g. (C,1,1)
  or (1,C,1,1) for 2-D, (C,1) for 1-D; or a single value): c joins the conv's bias (added to an
  existing constant bias).
- MatMul(x, W) + Add(b), x 2-D, W a constant 2-D weight, b a constant of shape (N,), (1,N) or a
  single value: becomes Gemm(x, W, b). With a batched x the MatMul+Add stays (the MatMul lowering
  handles it).
- Gemm + Add(c), with c broadcastable to the Gemm's output: c joins C (beta folded in).

Legal only when the producer's output is read by the Add alone and is not a graph output, and the
producer has no fused activation (the Add's own, if any, moves to the producer).
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import Pass, float_attr, merge_follower, single_output, sole_consumer


def _channel_bias(c: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray | None:
    """c as a (C,) vector when adding it to out_shape is a per-channel (axis 1) bias."""
    rank, channels = len(out_shape), out_shape[1]
    if c.size == 1 and c.ndim <= rank:
        return np.full((channels,), c.reshape(()))
    if c.ndim > rank:
        return None
    padded = (1,) * (rank - c.ndim) + tuple(c.shape)
    if padded[0] != 1 or any(d != 1 for d in padded[2:]) or padded[1] != channels:
        return None
    return c.reshape(channels)


def _row_bias(c: np.ndarray, n: int) -> np.ndarray | None:
    """c as an (N,) vector when it is a bias of shape (N,), (1,N) or a single value."""
    if c.size == 1 and c.ndim <= 2:
        return np.full((n,), c.reshape(()))
    if c.shape in ((n,), (1, n)):
        return c.reshape(n)
    return None


class FuseBias(Pass):
    NAME = "fuse_bias"

    def apply(self, graph: Graph) -> bool:
        changed = False
        producers, consumers = graph.producers(), graph.consumers()
        for add in [n for n in graph.nodes if n.op == "Add"]:
            if add.domain or len(add.inputs) != 2:
                continue
            for k in (0, 1):
                x, c_name = add.inputs[k], add.inputs[1 - k]
                c = graph.const(c_name)
                prod = producers.get(x)
                if c is None or prod is None or prod.act is not None or prod.domain:
                    continue
                if single_output(prod) != x or sole_consumer(graph, x, consumers) is not add:
                    continue
                vx, vy = graph.values.get(x), graph.values.get(add.outputs[0])
                if vx is None or vy is None or vx.shape != vy.shape or vx.dtype != vy.dtype:
                    continue  # the Add broadcasts the result to a bigger shape
                if vx.dtype != np.float32:
                    continue  # the APIs that take a bias (GEMM, CONV) are float32
                if prod.op in ("Conv", "ConvTranspose"):
                    ok = self._conv(graph, prod, c, vx.shape)
                elif prod.op == "MatMul":
                    ok = self._matmul(graph, prod, c, vx.shape)
                elif prod.op == "Gemm":
                    ok = self._gemm(graph, prod, c, vx.shape)
                else:
                    ok = False
                if ok:
                    merge_follower(graph, prod, add, producers, consumers)
                    changed = True
                    break
        return changed

    @staticmethod
    def _conv(graph: Graph, conv: Node, c: np.ndarray, out_shape) -> bool:
        bias = _channel_bias(c, out_shape)
        old = graph.const(conv.input(2))
        if bias is None or (conv.input(2) and old is None):
            return False
        w = graph.value(conv.inputs[1])
        new = bias.astype(np.float64) + (0.0 if old is None else old.astype(np.float64).reshape(-1))
        name = graph.fresh_name(f"{conv.name}_bias_fused")
        graph.add_const(name, new.astype(w.dtype))
        conv.inputs = [conv.inputs[0], conv.inputs[1], name]
        return True

    @staticmethod
    def _matmul(graph: Graph, mm: Node, c: np.ndarray, out_shape) -> bool:
        a = graph.values.get(mm.input(0))
        w = graph.const(mm.input(1))
        if a is None or len(a.shape) != 2 or w is None or w.ndim != 2:
            return False
        bias = _row_bias(c, w.shape[1])
        if bias is None:
            return False
        name = graph.fresh_name(f"{mm.name}_bias")
        graph.add_const(name, bias.astype(w.dtype))
        mm.op = "Gemm"
        mm.attrs = {}
        mm.inputs = [mm.inputs[0], mm.inputs[1], name]
        return True

    @staticmethod
    def _gemm(graph: Graph, gemm: Node, c: np.ndarray, out_shape) -> bool:
        old = graph.const(gemm.input(2))
        if gemm.input(2) and old is None:
            return False
        if c.ndim > 2:
            c = c.reshape(c.shape[c.ndim - 2:]) if all(d == 1 for d in c.shape[:c.ndim - 2]) else None
            if c is None:
                return False
        beta = float_attr(gemm, "beta", 1.0)
        new = c.astype(np.float64) + (0.0 if old is None else beta * old.astype(np.float64))
        if np.broadcast_shapes(new.shape, out_shape) != tuple(out_shape):
            return False
        if new.ndim == 2 and new.shape[0] == 1:
            new = new.reshape(-1)
        name = graph.fresh_name(f"{gemm.name}_bias_fused")
        graph.add_const(name, new.astype(graph.value(gemm.inputs[1]).dtype))
        gemm.inputs = [gemm.inputs[0], gemm.inputs[1], name]
        gemm.attrs["beta"] = 1.0
        return True


PASS = FuseBias()
