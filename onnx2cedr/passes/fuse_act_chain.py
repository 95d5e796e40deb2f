"""Rewrite the element-wise chains exporters write for an activation into that one activation node.

    SiLU / Swish   x * Sigmoid(x)                                        -> Swish (alpha 1)
    HardSwish      x * HardSigmoid(x) (alpha 1/6, beta 1/2);
                   x * Clip(x + 3, 0, 6) / 6 (the division or a * 1/6 on either factor)
                                                                         -> HardSwish
    Mish           x * Tanh(Softplus(x))                                 -> Mish
    GELU (erf)     0.5 * x * (1 + Erf(x / sqrt 2))                       -> Gelu
    GELU (tanh)    0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 x^3))) -> Gelu(approximate='tanh')

(products in any operand order and association; x / sqrt 2 also as x * (1/sqrt 2), x^3 as Pow(x, 3)
or x * x * x, the 0.5 also as a division by 2). Swish is the opset-24 op, carried in the private
domain (opset_fixups); the others are standard ops. The result is one element-wise pass instead of
two to eight, and fuse_activation then folds it into the convolution or GEMM that produces x.

Legal when every value inside the chain is read by the next chain node alone (and is not a graph
output), the constants are scalars, and x is float32.
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Graph, Node
from ..opset_fixups import EXT_DOMAIN
from .common import Pass, drop_if_unused, single_output, sole_consumer

SQRT2 = math.sqrt(2.0)
SQRT_2_PI = math.sqrt(2.0 / math.pi)


def _close(v: float | None, target: float, rel: float = 1e-4) -> bool:
    return v is not None and abs(v - target) <= rel * abs(target)


class _Matcher:
    def __init__(self, graph: Graph):
        self.g = graph
        self.producers = graph.producers()
        self.consumers = graph.consumers()

    def scalar(self, name: str) -> float | None:
        data = self.g.const(name) if name else None
        if data is None or data.size != 1 or not np.issubdtype(np.asarray(data).dtype, np.floating):
            return None
        return float(np.asarray(data).reshape(()))

    def only_reader(self, value: str) -> Node | None:
        """The one node reading an interior value of a chain (None: read by several or a graph output)."""
        return sole_consumer(self.g, value, self.consumers)

    def prod(self, value: str, op: str) -> Node | None:
        n = self.producers.get(value)
        return n if n is not None and n.op == op and not n.domain and single_output(n) == value else None

    def binary(self, node: Node | None, op: str) -> tuple[str, str] | None:
        if node is None or node.op != op or node.domain or len(node.inputs) != 2 or single_output(node) is None:
            return None
        return node.inputs[0], node.inputs[1]

    def other(self, node: Node, op: str, value: str) -> str | None:
        """The other operand of a commutative binary `node` one of whose operands is `value`."""
        ins = self.binary(node, op)
        if ins is None or value not in ins:
            return None
        return ins[1] if ins[0] == value else ins[0]

    def scaled(self, node: Node | None, value: str, k: float) -> bool:
        """node computes value * k (Mul by k, either order, or Div by 1/k)."""
        if node is None:
            return False
        o = self.other(node, "Mul", value)
        if o is not None:
            return _close(self.scalar(o), k)
        ins = self.binary(node, "Div")
        return ins is not None and ins[0] == value and _close(self.scalar(ins[1]), 1.0 / k)

    def scaled_product(self, x: str, a: str, k: float) -> tuple[list[Node], str] | None:
        """The nodes computing x * a * k from a (a read once), in any association: (x*a)*k,
        x*(a*k), (x*k)*a. Returns (nodes, output)."""
        m1 = self.only_reader(a)
        if m1 is None:
            return None
        o = self.other(m1, "Mul", a)
        if o == x:  # (x * a) * k
            m2 = self.only_reader(m1.outputs[0])
            return ([m1, m2], m2.outputs[0]) if self.scaled(m2, m1.outputs[0], k) else None
        if self.scaled(m1, a, k):  # x * (a * k)
            m2 = self.only_reader(m1.outputs[0])
            if m2 is not None and self.other(m2, "Mul", m1.outputs[0]) == x:
                return [m1, m2], m2.outputs[0]
            return None
        if o is not None:  # (x * k) * a
            h = self.producers.get(o)
            if h is not None and self.only_reader(o) is m1 and self.scaled(h, x, k):
                return [h, m1], m1.outputs[0]
        return None

    def times_x(self, x: str, a: str) -> tuple[list[Node], str] | None:
        m = self.only_reader(a)
        if m is not None and self.other(m, "Mul", a) == x:
            return [m], m.outputs[0]
        return None

    # ---- the patterns, each anchored at one node of the chain ----
    def silu(self, n: Node):
        if n.op != "Sigmoid" or n.domain or n.act is not None:
            return None
        x = n.inputs[0]
        tail = self.times_x(x, n.outputs[0])
        return (x, [n] + tail[0], tail[1], "Swish", {"alpha": 1.0}, EXT_DOMAIN) if tail else None

    def hard_swish_hs(self, n: Node):
        if n.op != "HardSigmoid" or n.domain or n.act is not None:
            return None
        if not (_close(float(n.attrs.get("alpha", 0.2)), 1 / 6) and _close(float(n.attrs.get("beta", 0.5)), 0.5)):
            return None
        x = n.inputs[0]
        tail = self.times_x(x, n.outputs[0])
        return (x, [n] + tail[0], tail[1], "HardSwish", {}, "") if tail else None

    def hard_swish_relu6(self, n: Node):
        if n.op != "Clip" or n.domain or n.act is not None or len(n.inputs) != 3:
            return None
        if self.scalar(n.inputs[1]) != 0.0 or not _close(self.scalar(n.inputs[2]), 6.0):
            return None
        add = self.prod(n.inputs[0], "Add")
        if add is None or self.only_reader(add.outputs[0]) is not n:
            return None
        ins = self.binary(add, "Add")
        x = next((a for a, b in (ins, ins[::-1]) if _close(self.scalar(b), 3.0) and self.scalar(a) is None), None)
        if x is None:
            return None
        tail = self.scaled_product(x, n.outputs[0], 1.0 / 6.0)
        return (x, [add, n] + tail[0], tail[1], "HardSwish", {}, "") if tail else None

    def mish(self, n: Node):
        if n.op != "Softplus" or n.domain or n.act is not None:
            return None
        x = n.inputs[0]
        t = self.only_reader(n.outputs[0])
        if t is None or t.op != "Tanh" or t.domain or t.act is not None:
            return None
        tail = self.times_x(x, t.outputs[0])
        return (x, [n, t] + tail[0], tail[1], "Mish", {}, "") if tail else None

    def _gelu_tail(self, x: str, f: Node, pre: list[Node], approximate: str):
        """f = Erf / Tanh output; then (1 + f) * x * 0.5."""
        add = self.only_reader(f.outputs[0])
        if add is None:
            return None
        one = self.other(add, "Add", f.outputs[0])
        if one is None or not _close(self.scalar(one), 1.0):
            return None
        tail = self.scaled_product(x, add.outputs[0], 0.5)
        if tail is None:
            return None
        return x, pre + [f, add] + tail[0], tail[1], "Gelu", {"approximate": approximate}, ""

    def gelu_erf(self, n: Node):
        if n.op != "Erf" or n.domain or n.act is not None:
            return None
        d = self.producers.get(n.inputs[0])
        if d is None or self.only_reader(d.outputs[0]) is not n:
            return None
        ins = self.binary(d, "Div")
        if ins is not None and _close(self.scalar(ins[1]), SQRT2):
            x = ins[0]
        else:
            ins = self.binary(d, "Mul")
            if ins is None:
                return None
            x = next((a for a, b in (ins, ins[::-1]) if _close(self.scalar(b), 1 / SQRT2) and self.scalar(a) is None),
                     None)
        if x is None:
            return None
        return self._gelu_tail(x, n, [d], "none")

    def gelu_tanh(self, n: Node):
        if n.op != "Tanh" or n.domain or n.act is not None:
            return None
        m = self.prod(n.inputs[0], "Mul")  # sqrt(2/pi) * s
        if m is None or self.only_reader(m.outputs[0]) is not n:
            return None
        ins = self.binary(m, "Mul")
        s = next((a for a, b in (ins, ins[::-1]) if _close(self.scalar(b), SQRT_2_PI, 1e-3)), None)
        add = self.prod(s, "Add") if s else None
        if add is None or self.only_reader(s) is not m:
            return None
        for x, p in (add.inputs, add.inputs[::-1]):  # x + 0.044715 * x^3
            pm = self.prod(p, "Mul")
            if pm is None or self.only_reader(p) is not add:
                continue
            cube = self.other(pm, "Mul", next((v for v in pm.inputs if _close(self.scalar(v), 0.044715, 1e-3)), ""))
            cube_nodes = self.cube_of(x, cube) if cube else None
            if cube_nodes is not None and self.only_reader(cube) is pm:
                return self._gelu_tail(x, n, cube_nodes + [pm, add, m], "tanh")
        return None

    def cube_of(self, x: str, v: str) -> list[Node] | None:
        """The nodes computing v = x^3: Pow(x, 3) or x * x * x (either association)."""
        n = self.producers.get(v)
        if n is None or n.domain or single_output(n) != v:
            return None
        if n.op == "Pow" and n.inputs[0] == x and _close(self.scalar(n.inputs[1]), 3.0, 0):
            return [n]
        ins = self.binary(n, "Mul")
        if ins is None or x not in ins:
            return None
        sq = ins[1] if ins[0] == x else ins[0]
        s = self.producers.get(sq)
        if s is not None and self.binary(s, "Mul") == (x, x) and self.only_reader(sq) is n:
            return [s, n]
        return None


PATTERNS = ("silu", "hard_swish_hs", "hard_swish_relu6", "mish", "gelu_erf", "gelu_tanh")


class FuseActChain(Pass):
    NAME = "fuse_act_chain"

    def apply(self, graph: Graph) -> bool:
        changed = False
        while True:
            m = _Matcher(graph)
            found = None
            for n in graph.nodes:
                for p in PATTERNS:
                    found = getattr(m, p)(n)
                    if found is not None:
                        break
                if found is not None:
                    x, chain, out, op, attrs, domain = found
                    vx = graph.values.get(x)
                    if vx is None or vx.dtype != np.float32 or len({id(c) for c in chain}) != len(chain) \
                            or any(c.act is not None for c in chain):
                        found = None
                        continue
                    break
            if found is None:
                return changed
            x, chain, out, op, attrs, domain = found
            drop = {id(c) for c in chain}
            at = min(i for i, c in enumerate(graph.nodes) if id(c) in drop)
            last = next(c for c in chain if c.outputs[0] == out)
            node = Node(op, graph.fresh_node_name(last.name or op), [x], [out], dict(attrs), domain=domain,
                        fused_from=[c.name for c in chain])
            inner = [c.outputs[0] for c in chain if c.outputs[0] != out]
            graph.nodes = [c for c in graph.nodes if id(c) not in drop]
            graph.nodes.insert(at, node)
            drop_if_unused(graph, inner)
            changed = True


PASS = FuseActChain()
