"""Remove the Transposes that channels-last exporters (tf2onnx, jax2onnx, ...) put around
convolutions and before Flatten/Dense, so that a Keras or JAX CNN lowers to the same CEDR calls as
the PyTorch one. Three rewrites, each exact (only where data moves changes, never what is computed):

1. Cancel or merge pairs: Transpose(Transpose(x, p), q) is x when p then q is the identity,
   otherwise one Transpose of x.
2. Sink a Transpose below a layout-agnostic element-wise op that is its only reader:
   E(Transpose(x, p), c) -> Transpose(E(x, c'), p), with c' the constant permuted back (unary ops;
   binary ops whose other operand is a constant, or is transposed by the same p). A Transpose that
   an exporter put after a Conv thus walks down past the bias Add, the BatchNorm Mul/Add and the
   Relu until it meets the Transpose put before the next Conv, and rewrite 1 removes both.
3. Fold into a weight: Transpose(x, p) -> Flatten / Reshape to (N, -1) -> MatMul or Gemm with a
   constant weight. Flattening the transposed tensor only reorders the Dense layer's input
   features, so the weight's rows are reordered instead and the Transpose goes.

A Transpose of the graph input (NHWC in, NCHW inside) stays: the model's interface is what it is.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import Pass, int_attr

# One tensor in, same shape out, and nothing in the op depends on which axis is which.
UNARY = frozenset({"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish",
                   "Softplus", "Softsign", "Gelu", "Mish", "Clip", "Abs", "Neg", "Exp", "Log", "Sqrt",
                   "Reciprocal", "Erf", "Sin", "Cos", "Floor", "Ceil", "Round", "Sign", "Not", "Identity",
                   "Cast"})
# Numpy-broadcasting element-wise ops of two operands.
BINARY = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "PRelu"})


def _perm(node: Node, rank: int) -> list[int]:
    p = node.attrs.get("perm")
    return list(range(rank))[::-1] if p is None else [int(a) for a in p]


def _inverse(p: list[int]) -> list[int]:
    return [int(a) for a in np.argsort(p)]


class FoldTranspose(Pass):
    NAME = "fold_transpose"

    def apply(self, graph: Graph) -> bool:
        # to a fixed point here: a Transpose sinks one op per round. Every round that changes
        # something removes a Transpose or moves one strictly down, so this ends.
        changed = False
        for _ in range(4 * len(graph.nodes) + 4):
            round_changed = False
            for rewrite in (self._cancel_pairs, self._sink, self._fold_into_weights):
                if rewrite(graph):
                    round_changed = True
                    graph.toposort()
            if not round_changed:
                break
            changed = True
        return changed

    # ---- helpers ----
    @staticmethod
    def _transposes(graph: Graph) -> list[Node]:
        return [n for n in graph.nodes if n.op == "Transpose" and not n.domain and n.act is None
                and len(n.outputs) == 1 and n.outputs[0] in graph.values and n.inputs[0] in graph.values
                and graph.const(n.inputs[0]) is None]  # a Transpose of a weight is constant_fold's

    @staticmethod
    def _remove(graph: Graph, node: Node) -> None:
        graph.nodes = [n for n in graph.nodes if n is not node]

    @staticmethod
    def _drop_if_dead(graph: Graph, node: Node) -> None:
        """Remove `node` if nothing reads its output any more."""
        out = node.outputs[0]
        if out in graph.outputs or any(out in n.inputs for n in graph.nodes):
            return
        graph.nodes = [n for n in graph.nodes if n is not node]
        graph.values.pop(out, None)

    # ---- 1. pairs ----
    def _cancel_pairs(self, graph: Graph) -> bool:
        changed = False
        for t2 in self._transposes(graph):
            if t2 not in graph.nodes:
                continue
            producers = graph.producers()
            t1 = producers.get(t2.inputs[0])
            if t1 is None or t1.op != "Transpose" or t1.domain or t1.act is not None or t1 not in graph.nodes:
                continue
            x = t1.inputs[0]
            rank = len(graph.values[x].shape)
            p, q = _perm(t1, rank), _perm(t2, rank)
            composed = [p[i] for i in q]
            y = t2.outputs[0]
            if composed == list(range(rank)):
                if y in graph.outputs:
                    t2.op, t2.attrs, t2.inputs = "Identity", {}, [x]  # keeps the output's name
                else:
                    self._remove(graph, t2)
                    graph.replace_uses(y, x)
                    graph.values.pop(y, None)
            else:
                t2.inputs, t2.attrs = [x], {"perm": composed}
            self._drop_if_dead(graph, t1)
            changed = True
        return changed

    # ---- 2. sinking below element-wise ops ----
    def _sink(self, graph: Graph) -> bool:
        changed = False
        for t in self._transposes(graph):
            if t not in graph.nodes:
                continue
            a = t.outputs[0]
            users = graph.consumers().get(a, [])
            if len(users) != 1 or a in graph.outputs:
                continue
            e = users[0]
            if self._sink_through(graph, t, e):
                changed = True
        return changed

    def _sink_through(self, graph: Graph, t: Node, e: Node) -> bool:
        if e.domain or e.act is not None or len(e.outputs) != 1 or not e.outputs[0]:
            return False
        a, x, y = t.outputs[0], t.inputs[0], e.outputs[0]
        va, vx, vy = graph.values[a], graph.values[x], graph.values.get(y)
        if vy is None or vy.shape != va.shape:
            return False  # the op broadcasts `a` to something bigger: the layouts would differ
        rank = len(vx.shape)
        p = _perm(t, rank)
        inv = _inverse(p)
        new_inputs = list(e.inputs)
        t2 = None
        if e.op in UNARY:
            if e.inputs[0] != a or any(i == a for i in e.inputs[1:]):
                return False
            if e.op == "Clip" and any(i and graph.const(i) is None for i in e.inputs[1:]):
                return False
            new_inputs[0] = x
        elif e.op in BINARY and len(e.inputs) == 2:
            k = 0 if e.inputs[0] == a else 1
            other = e.inputs[1 - k]
            if other == a:  # E(a, a): both operands move together
                new_inputs = [x, x]
            else:
                c = graph.const(other)
                if c is not None:
                    if c.ndim > rank:
                        return False
                    c = np.asarray(c).reshape((1,) * (rank - c.ndim) + c.shape).transpose(inv)
                    name = graph.fresh_name(f"{other}__{'x'.join(map(str, inv))}")
                    graph.add_const(name, c)
                    new_inputs[1 - k] = name
                else:
                    t2 = graph.producers().get(other)
                    if t2 is None or t2.op != "Transpose" or t2.domain or t2.act is not None \
                            or len(graph.values[t2.inputs[0]].shape) != rank or _perm(t2, rank) != p:
                        return False
                    new_inputs[1 - k] = t2.inputs[0]
                new_inputs[k] = x
        else:
            return False
        # E now computes in x's layout into a fresh value; t transposes that into E's old output
        mid = graph.fresh_name(f"{y}__pre_transpose")
        graph.add_value(mid, vy.dtype, vx.shape)
        e.inputs = new_inputs
        e.outputs = [mid]
        t.inputs, t.outputs = [mid], [y]
        graph.values.pop(a, None)
        if t2 is not None:  # the Transpose of the other operand may have no reader left
            self._drop_if_dead(graph, t2)
        return True

    # ---- 3. folding into a Dense layer's weight ----
    def _fold_into_weights(self, graph: Graph) -> bool:
        changed = False
        for t in self._transposes(graph):
            consumers = graph.consumers()
            a, x = t.outputs[0], t.inputs[0]
            vx = graph.values[x]
            rank = len(vx.shape)
            p = _perm(t, rank)
            users = consumers.get(a, [])
            if rank < 2 or p[0] != 0 or len(users) != 1 or a in graph.outputs:
                continue
            flat = users[0]
            if flat.domain or flat.act is not None or flat.inputs[0] != a or len(flat.outputs) != 1:
                continue
            if flat.op == "Flatten":
                if int_attr(flat, "axis", 1) not in (1, 1 - rank):
                    continue
            elif flat.op != "Reshape":
                continue
            f = flat.outputs[0]
            n_rows = vx.shape[0]
            features = int(np.prod(vx.shape[1:], dtype=np.int64))
            vf = graph.values.get(f)
            if vf is None or vf.shape != (n_rows, features) or f in graph.outputs:
                continue
            dense = consumers.get(f, [])
            if not dense or not all(self._dense_weight(graph, d, f, features) is not None for d in dense):
                continue
            # idx[j] = position in x's flattening of the j-th feature of the transposed flattening
            idx = np.arange(features).reshape(vx.shape[1:]).transpose([d - 1 for d in p[1:]]).reshape(-1)
            for d in dense:
                w, axis = self._dense_weight(graph, d, f, features)
                new = np.empty_like(w)
                if axis == 0:
                    new[idx, :] = w
                else:
                    new[:, idx] = w
                name = graph.fresh_name(f"{d.inputs[1]}__unpermuted")
                graph.add_const(name, new)
                d.inputs = [d.inputs[0], name] + d.inputs[2:]
            flat.inputs = [x] + flat.inputs[1:]
            self._remove(graph, t)
            graph.values.pop(a, None)
            changed = True
        return changed

    @staticmethod
    def _dense_weight(graph: Graph, d: Node, f: str, features: int):
        """(weight, axis of its input features) when `d` is a MatMul/Gemm reading `f` as its
        left operand with a constant 2-D weight; else None."""
        if d.domain or not d.inputs or d.inputs[0] != f or f in d.inputs[1:]:
            return None
        w = graph.const(d.input(1))
        if w is None or w.ndim != 2:
            return None
        if d.op == "MatMul":
            axis = 0
        elif d.op == "Gemm" and int_attr(d, "transA", 0) == 0:
            axis = 1 if int_attr(d, "transB", 0) else 0
        else:
            return None
        return (w, axis) if w.shape[axis] == features else None


PASS = FoldTranspose()
