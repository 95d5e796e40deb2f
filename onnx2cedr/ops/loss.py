"""Losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (the same after a log-softmax over
the classes, optionally also returned) -> the inline CPU kernel o2c_nll_loss (no CEDR API)."""
from __future__ import annotations

import numpy as np

from .attention import _FLOATS
from .base import Call, Lowered, NullArg, OpDef, Params, TensorArg, Unsupported, register
from .logic import DT_CODES, _dt_name

_REDUCTIONS = {"none": 0, "sum": 1, "mean": 2}


class _Loss(OpDef):
    attrs = {"ignore_index": None, "reduction": "mean"}
    dtypes = _FLOATS
    log_softmax = 0
    max_outputs = 1

    def check_node(self, graph, node):
        red = self.attr(node, "reduction")
        if red not in _REDUCTIONS:
            raise Unsupported(f"reduction '{red}' (none, sum or mean)")
        if len(node.outputs) > self.max_outputs:
            raise Unsupported(f"{len(node.outputs)} outputs (at most {self.max_outputs})")
        x, t = graph.values.get(node.inputs[0]), graph.values.get(node.input(1))
        if x is None or t is None:
            return
        if len(x.shape) < 2:
            raise Unsupported(f"input of rank {len(x.shape)} (at least 2: batch, classes, ...)")
        if np.dtype(t.dtype) not in (np.dtype(np.int32), np.dtype(np.int64)):
            raise Unsupported(f"target of element type {_dt_name(t.dtype)} (int32 or int64)")
        if tuple(t.shape) != tuple(x.shape[:1]) + tuple(x.shape[2:]):
            raise Unsupported(f"target of shape {list(t.shape)} for an input of shape {list(x.shape)}")
        w = node.input(2)
        if w and w in graph.values:
            vw = graph.values[w]
            if np.dtype(vw.dtype) != np.dtype(x.dtype) or tuple(vw.shape) != (x.shape[1],):
                raise Unsupported(f"weight must be {_dt_name(x.dtype)} of shape [{x.shape[1]}]")

    def flops(self, graph, node):
        return (6 if self.log_softmax else 2) * graph.values[node.inputs[0]].size

    def lower(self, graph, node):
        x, t, w = node.inputs[0], node.input(1), node.input(2)
        shape = graph.values[x].shape
        n, c = int(shape[0]), int(shape[1])
        d = int(np.prod(shape[2:], dtype=np.int64))
        ii = self.attr(node, "ignore_index")
        log_prob = node.outputs[1] if len(node.outputs) > 1 and node.outputs[1] else ""
        fields = {"n": n, "c": c, "d": d, "type": DT_CODES[np.dtype(graph.values[x].dtype)],
                  "target_type": DT_CODES[np.dtype(graph.values[t].dtype)],
                  "reduction": _REDUCTIONS[self.attr(node, "reduction")], "has_ignore": int(ii is not None),
                  "ignore_index": int(ii) if ii is not None else 0, "log_softmax": self.log_softmax}
        opt = [TensorArg(v, cast="void") if v else NullArg("void") for v in (w, log_prob)]
        args = [TensorArg(x, cast="void"), TensorArg(t, cast="void"), opt[0], TensorArg(node.outputs[0], cast="void"),
                opt[1]]
        return Lowered([Call("o2c_nll_loss", args, Params("o2c_nll_params_t", fields), flops=self.flops(graph, node))],
                       reason=f"{node.op}: inline CPU kernel")


@register
class NegativeLogLikelihoodLoss(_Loss):
    op_type = "NegativeLogLikelihoodLoss"
    summary = "-x[n, target, ...] * weight, reduced (none/sum/weighted mean); ignore_index"


@register
class SoftmaxCrossEntropyLoss(_Loss):
    op_type = "SoftmaxCrossEntropyLoss"
    log_softmax = 1
    max_outputs = 2
    summary = "log-softmax over the classes, then the negative log-likelihood; optional log_prob output"
