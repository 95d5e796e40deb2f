"""Fold a Mul by a per-output-channel constant into the Conv / Gemm / MatMul before it.

Channels-last exporters (tf2onnx for Keras) write an inference BatchNormalization as Mul(scale)
then Add(shift) instead of one BatchNormalization node; once fold_transpose has put the Conv and
the Mul in one layout, this is a BatchNorm with shift 0, folded with fold_batchnorm's arithmetic
(W and bias scaled per channel, in float64). The Add that follows is then a bias, which fuse_bias
takes. Legal under fold_batchnorm's conditions: constant weights, the producer's output read by
the Mul alone and not a graph output, no fused activation on the producer.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph
from .common import FLOAT_TYPES, Pass, merge_follower, single_output, sole_consumer
from .fold_batchnorm import FoldBatchNorm
from .fuse_bias import _channel_bias, _row_bias


class FoldChannelScale(Pass):
    NAME = "fold_channel_scale"

    def apply(self, graph: Graph) -> bool:
        changed = False
        producers, consumers = graph.producers(), graph.consumers()
        for mul in [n for n in graph.nodes if n.op == "Mul" and not n.domain and n.act is None]:
            if len(mul.inputs) != 2 or single_output(mul) is None:
                continue
            for k in (0, 1):
                x, c = mul.inputs[k], graph.const(mul.inputs[1 - k])
                prod = producers.get(x)
                if c is None or prod is None or prod.act is not None or prod.domain or single_output(prod) != x:
                    continue
                if sole_consumer(graph, x, consumers) is not mul:
                    continue
                vx, vy = graph.values.get(x), graph.values.get(mul.outputs[0])
                if vx is None or vy is None or vx.shape != vy.shape or vx.dtype not in FLOAT_TYPES or len(vx.shape) < 2:
                    continue  # the Mul broadcasts x to something bigger
                ok = False
                if prod.op == "Conv":
                    s = _channel_bias(np.asarray(c), vx.shape)
                    ok = s is not None and FoldBatchNorm._fold_conv(graph, prod, s.astype(np.float64),
                                                                    np.zeros(len(s)), vx.shape[1])
                elif prod.op in ("Gemm", "MatMul") and len(vx.shape) == 2 and vx.dtype == np.float32:
                    # (a MatMul becomes a Gemm, whose lowering is float32 only: a float64 product stays)
                    s = _row_bias(np.asarray(c), vx.shape[1])
                    if s is not None:
                        fold = FoldBatchNorm._fold_gemm if prod.op == "Gemm" else FoldBatchNorm._fold_matmul
                        ok = fold(graph, prod, s.astype(np.float64), np.zeros(len(s)), vx.shape[1])
                if ok:
                    merge_follower(graph, prod, mul, producers, consumers)
                    changed = True
                    break
        return changed


PASS = FoldChannelScale()
