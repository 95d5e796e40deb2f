"""Normalization and reductions: BatchNormalization (when not folded), LRN, Reduce* -> inline
CPU kernels (no CEDR API)."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, OpDef, Params, TensorArg, Unsupported, act_fields, norm_axis, pad8, register


@register
class BatchNormalization(OpDef):
    op_type = "BatchNormalization"
    attrs = {"epsilon": 1e-5, "momentum": 0.9, "training_mode": 0}
    summary = "per-channel affine (folded into a preceding Conv/Gemm when legal)"

    def check_node(self, graph, node):
        if int(self.attr(node, "training_mode") or 0) or len([o for o in node.outputs if o]) > 1:
            raise Unsupported("training mode (running statistics outputs) is not supported")
        producers = None
        for i in node.inputs[1:5]:
            if graph.const(i) is None:
                # a DequantizeLinear of constants (a QDQ model's quantized parameters) stays until the
                # passes (fuse_qdq reads such nodes), then constant folding makes it a constant
                producers = producers or graph.producers()
                dq = producers.get(i)
                if dq is None or dq.op != "DequantizeLinear" or dq.domain or \
                        any(graph.const(j) is None for j in dq.inputs if j):
                    raise Unsupported(f"scale, bias, mean and variance must be constants ('{i}' is not)")
        x = graph.values.get(node.inputs[0])
        if x is not None and len(x.shape) < 2:
            raise Unsupported("input rank below 2")

    def lower(self, graph: Graph, node: Node) -> Lowered:
        x = graph.values[node.inputs[0]]
        s, b, m, v = (np.asarray(graph.const(i), dtype=np.float64) for i in node.inputs[1:5])
        scale = s / np.sqrt(v + float(self.attr(node, "epsilon")))
        shift = b - m * scale
        sname = graph.add_const(graph.fresh_name(node.outputs[0] + "::bn_scale"), scale.astype(np.float32)).name
        bname = graph.add_const(graph.fresh_name(node.outputs[0] + "::bn_shift"), shift.astype(np.float32)).name
        fields = {"outer": x.shape[0], "channels": x.shape[1],
                  "inner": int(np.prod(x.shape[2:], dtype=np.int64)), "act": act_fields(node)}
        call = Call("o2c_channel_affine", [TensorArg(node.inputs[0]), TensorArg(sname), TensorArg(bname),
                                           TensorArg(node.outputs[0])],
                    Params("o2c_channel_affine_params_t", fields), flops=2 * x.size)
        return Lowered([call], reason="batch normalization not foldable: inline per-channel affine")


@register
class LRN(OpDef):
    op_type = "LRN"
    attrs = {"alpha": 1e-4, "beta": 0.75, "bias": 1.0, "size": None}

    summary = "local response normalization across channels"

    def lower(self, graph, node):
        x = graph.values[node.inputs[0]]
        fields = {"batch": x.shape[0], "channels": x.shape[1], "inner": int(np.prod(x.shape[2:], dtype=np.int64)),
                  "size": int(self.attr(node, "size")), "alpha": float(self.attr(node, "alpha")),
                  "beta": float(self.attr(node, "beta")), "bias": float(self.attr(node, "bias"))}
        return Lowered([Call("o2c_lrn", [TensorArg(node.inputs[0]), TensorArg(node.outputs[0])],
                             Params("o2c_lrn_params_t", fields), flops=x.size * (2 * fields["size"] + 4))],
                       reason="LRN: inline CPU kernel")


_REDUCE = {"ReduceSum": "O2C_REDUCE_SUM", "ReduceMean": "O2C_REDUCE_MEAN", "ReduceMax": "O2C_REDUCE_MAX",
           "ReduceMin": "O2C_REDUCE_MIN", "ReduceProd": "O2C_REDUCE_PROD", "ReduceL1": "O2C_REDUCE_L1",
           "ReduceL2": "O2C_REDUCE_L2", "ReduceLogSumExp": "O2C_REDUCE_LOG_SUM_EXP",
           "ReduceSumSquare": "O2C_REDUCE_SUM_SQUARE", "ReduceLogSum": "O2C_REDUCE_LOG_SUM"}


# element types o2c_reduce computes over (O2C_DT_* codes)
_REDUCE_TYPES = {np.dtype(np.float32): 1, np.dtype(np.float64): 11, np.dtype(np.float16): 10}
try:
    import ml_dtypes

    _REDUCE_TYPES[np.dtype(ml_dtypes.bfloat16)] = 16
except ImportError:  # pragma: no cover
    pass


def _make_reduce(name: str):
    class Reduce(OpDef):
        op_type = name
        attrs = {"keepdims": 1, "noop_with_empty_axes": 0}
        dtypes = tuple(_REDUCE_TYPES)
        summary = "reduction over constant axes (accumulated in double)"

        def axes(self, graph, node):
            x = graph.values[node.inputs[0]]
            rank = len(x.shape)
            if node.input(1):
                ax = graph.const(node.input(1))
                if ax is None:
                    raise Unsupported("axes must be a compile-time constant")
                ax = [norm_axis(int(a), rank, node) for a in np.asarray(ax).reshape(-1)]
            else:
                ax = []
            if not ax:
                ax = [] if int(self.attr(node, "noop_with_empty_axes")) else list(range(rank))
            return ax

        def check_node(self, graph, node):
            if node.inputs[0] in graph.values:
                self.axes(graph, node)
                if len(graph.values[node.inputs[0]].shape) > 8:
                    raise Unsupported("rank above 8")

        def lower(self, graph, node):
            x = graph.values[node.inputs[0]]
            ax = self.axes(graph, node)
            fields = {"op": _REDUCE[name], "rank": max(len(x.shape), 1), "in_shape": pad8(x.shape or [1], 1),
                      "reduce": pad8([1 if d in ax else 0 for d in range(len(x.shape))] or [0], 0),
                      "type": _REDUCE_TYPES[np.dtype(x.dtype)]}
            return Lowered([Call("o2c_reduce", [TensorArg(node.inputs[0], cast="void"),
                                                TensorArg(node.outputs[0], cast="void")],
                                 Params("o2c_reduce_params_t", fields), flops=x.size)],
                           reason="reduction: inline CPU kernel")

    Reduce.__name__ = f"Op{name}"
    return Reduce


for _n in _REDUCE:
    register(_make_reduce(_n))
