"""Fuse the QDQ pattern around a pooling layer into one int8 layer (QPool, ops/qeltwise.py):

    DequantizeLinear(x_q) -> MaxPool | AveragePool | GlobalAveragePool -> QuantizeLinear -> y_q

becomes QPool(x_q) -> y_q. MaxPool: the maximum of the int8 values, requantized (the identity, so exact,
when x and y share scale and zero point, as onnxruntime.quantization writes them); AveragePool and
GlobalAveragePool: the exact int32 sum of (x - zx) over the window, times x_scale / (y_scale * count),
rounded half to even (onnxruntime's QLinearGlobalAveragePool). Legal when x_q and y_q are int8 or uint8
with scalar constant scales and zero points, the pool is 1-D or 2-D with one output (no Indices) and
its float form lowers, and its result is read by the QuantizeLinear alone."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..ops import Unsupported, get_op
from .common import sole_consumer
from .qdq_common import QuantizeRootedPass, dq_in, replace_with

_POOLS = ("MaxPool", "AveragePool", "GlobalAveragePool")


class FuseQPool(QuantizeRootedPass):
    NAME = "fuse_qpool"

    def fuse(self, graph: Graph, q: Node, yq: tuple[float, int], producers: dict, consumers: dict) -> bool:
        pool = producers.get(q.inputs[0])
        if pool is None or pool.op not in _POOLS or pool.domain or pool.act is not None:
            return False
        if len([o for o in pool.outputs if o]) != 1 or sole_consumer(graph, pool.outputs[0], consumers) is not q:
            return False
        x = dq_in(graph, producers, pool.inputs[0])
        if x is None or len(graph.values[x[0].inputs[0]].shape) not in (3, 4):
            return False
        op = get_op(pool)
        try:
            op.check_node(graph, pool)
            op.lower(graph, pool)  # what the integer kernel is given: the float pool's own geometry
        except Unsupported:
            return False
        attrs = {k: v for k, v in pool.attrs.items() if k in op.attrs}
        attrs.update({"pool": pool.op, "x_scale": x[1], "x_zero": x[2], "y_scale": yq[0], "y_zero": yq[1],
                      "y_unsigned": int(np.dtype(graph.values[q.outputs[0]].dtype) == np.uint8)})
        node = Node("QPool", graph.fresh_node_name(f"{pool.name}_int8"), [x[0].inputs[0]], [q.outputs[0]], attrs,
                    domain="onnx2cedr.ext", fused_from=[pool.name, q.name])
        replace_with(graph, [pool, q], node)
        return True


PASS = FuseQPool()
