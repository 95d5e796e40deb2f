"""Move a pure reshape (Reshape, Flatten, Squeeze, Unsqueeze) below the element-wise op that alone
reads its output, so that what the reshape separated can fuse.

Channels-last exporters write a 1-D convolution as Unsqueeze -> Conv (2-D) -> Squeeze, and the
bias Add, the BatchNorm's Mul/Add and the Relu then follow the Squeeze: the reshape (free, a view)
stands between the Conv and everything fuse_bias, fold_channel_scale and fuse_activation would
take. Sinking it gives Conv -> Add -> Relu -> Squeeze; merge_reshapes then joins the Squeeze with
the next reshape (often an Unsqueeze back), and remove_identity drops what keeps the shape.

Legal when the element-wise op reads the reshape's output once, as its only computed operand,
without broadcasting it to a bigger shape, and its other operand (Add, Sub, Mul, Div, Pow, Max,
Min, PRelu) is a constant that can be written in the reshape input's shape: a single value, or,
when the reshape only inserts or removes size-1 dimensions, any constant (its dimensions move
with the data's).
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import FLOAT_TYPES, Pass, single_output, sole_consumer
from .fold_transpose import BINARY, UNARY

RESHAPES = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze"})


def _unit_dims_only(src: tuple[int, ...], dst: tuple[int, ...]) -> bool:
    """dst is src with size-1 dimensions inserted or removed (the data order is unchanged)."""
    return [d for d in src if d != 1] == [d for d in dst if d != 1]


def constant_in_shape(c: np.ndarray, src: tuple[int, ...], dst: tuple[int, ...]) -> np.ndarray | None:
    """A constant c that broadcasts against shape dst, rewritten to broadcast the same way against
    src (the shape dst was reshaped from), or None when that cannot be done without copying."""
    if c.ndim > len(dst):
        return None
    if c.size == 1:
        return c.reshape((1,) * min(c.ndim, len(src)))
    if not _unit_dims_only(src, dst):
        return None
    padded = (1,) * (len(dst) - c.ndim) + tuple(c.shape)
    # the k-th dimension of dst that is not 1 is the k-th dimension of src that is not 1
    big_src = [j for j, d in enumerate(src) if d != 1]
    big_dst = [i for i, d in enumerate(dst) if d != 1]
    out = [1] * len(src)
    for i, d in enumerate(padded):
        if d == 1:
            continue
        if dst[i] != d:  # c would broadcast dst: not an operand we can move
            return None
        out[big_src[big_dst.index(i)]] = d
    return c.reshape(out)


class SinkReshape(Pass):
    NAME = "sink_reshape"

    def apply(self, graph: Graph) -> bool:
        changed = False
        for r in [n for n in graph.nodes if n.op in RESHAPES and not n.domain]:
            if r not in graph.nodes:
                continue
            changed |= self._sink(graph, r)
        return changed

    @staticmethod
    def _sink(graph: Graph, r: Node) -> bool:
        y = single_output(r)
        if y is None or not r.inputs or not r.inputs[0]:
            return False
        x = r.inputs[0]
        consumers = graph.consumers()
        e = sole_consumer(graph, y, consumers)
        if e is None or e.domain or single_output(e) is None or (e.op not in UNARY and e.op not in BINARY):
            return False
        if e.op in ("Cast", "Identity") or graph.const(x) is not None:
            return False  # Cast may change dtype; a constant input is constant_fold's
        vx, vy, vz = graph.values.get(x), graph.values.get(y), graph.values.get(e.outputs[0])
        if vx is None or vy is None or vz is None or vx.dtype not in FLOAT_TYPES or vz.shape != vy.shape:
            return False
        new_inputs = list(e.inputs)
        others = [k for k, name in enumerate(e.inputs) if name and name != y]
        if e.inputs.count(y) != 1:
            return False
        for k in others:
            c = graph.const(e.inputs[k])
            if c is None or e.op not in BINARY:
                if e.op == "Clip" and c is not None and c.size == 1:
                    continue  # Clip's min / max are scalars: valid in any shape
                return False
            moved = constant_in_shape(np.asarray(c), vx.shape, vy.shape)
            if moved is None:
                return False
            if moved.shape != c.shape:
                name = graph.fresh_name(f"{e.inputs[k]}_as_{x}")
                graph.add_const(name, moved)
                new_inputs[k] = name
        z = e.outputs[0]
        mid = graph.fresh_name(f"{z}_before_{r.op.lower()}")
        graph.add_value(mid, vz.dtype, vx.shape)
        e.inputs = [x if name == y else name for name in new_inputs]
        e.outputs = [mid]
        r.inputs = [mid] + list(r.inputs[1:])
        r.outputs = [z]
        del graph.values[y]
        return True


PASS = SinkReshape()
