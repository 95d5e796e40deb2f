"""Lower each DFT node (see ops/spectral.py) to matrix products with constant tables.

For a signal x of length L along the node's axis (cut or zero-padded to dft_length), the K output
bins (K = L, or L/2 + 1 onesided) are

    X_k = s * sum_n (xr_n + i xi_n) (cos t - i d sin t),   t = 2 pi k n / L,
    d = +1 forward, -1 inverse; s = 1 forward, 1/L inverse

so with C[n, k] = s cos t and S[n, k] = s d sin t (float64 tables, stored as float32):

    Yr = xr @ C + xi @ S        Yi = xi @ C - xr @ S        (a real input has no xi terms)

The axis is moved next to last (Transpose), the real and imaginary parts split off (Slice), and
the two results stacked back into the last dimension (Unsqueeze + Concat), then moved back. A
lowering, not an optimization: with this pass disabled, DFT cannot be placed.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..ops.spectral import dft_spec
from .common import Pass


class LowerDft(Pass):
    NAME = "lower_dft"

    def apply(self, graph: Graph) -> bool:
        changed = False
        for n in [n for n in graph.nodes if n.op == "DFT" and not n.domain]:
            new = _lower(graph, n)
            i = graph.nodes.index(n)
            graph.nodes[i:i + 1] = new
            changed = True
        return changed


def _lower(graph: Graph, node: Node) -> list[Node]:
    sp = dft_spec(graph, node)
    r = len(sp.shape)
    out = node.outputs[0]
    nodes: list[Node] = []
    names = set(graph.values) | {o for n in graph.nodes for o in n.outputs} | {n.name for n in graph.nodes}

    def fresh(base: str) -> str:
        name, k = f"{node.name}/{base}", 0
        while name in names:
            k += 1
            name = f"{node.name}/{base}__{k}"
        names.add(name)
        return name

    def const(base: str, value) -> str:
        name = fresh(base)
        graph.add_const(name, np.asarray(value))
        return name

    def add(op: str, inputs: list[str], base: str, **attrs) -> str:
        o = fresh(base)
        nodes.append(Node(op, fresh(op), inputs, [o], attrs=attrs))
        return o

    # the axis next to last: [..., N, c]
    perm = [d for d in range(r - 1) if d != sp.axis] + [sp.axis, r - 1]
    x = node.inputs[0]
    if perm != list(range(r)):
        x = add("Transpose", [x], "moved", perm=perm)
    n = sp.shape[sp.axis]
    L, K = sp.length, sp.bins

    def part(k: int) -> str:  # [..., N] -> [..., L]
        p = add("Slice", [x, const("start", [k]), const("end", [k + 1]), const("axes", [-1])], "part")
        p = add("Squeeze", [p, const("last", [-1])], "part")
        if L < n:
            p = add("Slice", [p, const("zero", [0]), const("len", [L]), const("axes", [-1])], "cut")
        elif L > n:
            lead = r - 2  # the other axes of the moved signal
            p = add("Pad", [p, const("pads", [0] * (lead + 1) + [0] * lead + [L - n])], "padded")
        return p

    kn = np.outer(np.arange(L, dtype=np.float64), np.arange(K, dtype=np.float64))
    t = 2.0 * np.pi * np.mod(kn, L) / L  # reduced mod L first: exact angles for large k n
    scale = 1.0 / L if sp.inverse else 1.0
    sign = -1.0 if sp.inverse else 1.0
    C = const("cos", (scale * np.cos(t)).astype(np.float32))
    S = const("sin", (scale * sign * np.sin(t)).astype(np.float32))
    xr = part(0)
    if sp.shape[-1] == 2:
        xi = part(1)
        yr = add("Add", [add("MatMul", [xr, C], "rc"), add("MatMul", [xi, S], "is")], "re")
        yi = add("Sub", [add("MatMul", [xi, C], "ic"), add("MatMul", [xr, S], "rs")], "im")
    else:
        yr = add("MatMul", [xr, C], "re")
        yi = add("Neg", [add("MatMul", [xr, S], "rs")], "im")
    last = const("last", [-1])
    y = add("Concat", [add("Unsqueeze", [yr, last], "re1"), add("Unsqueeze", [yi, last], "im1")], "stacked",
            axis=-1)
    if perm != list(range(r)):
        inv = [perm.index(d) for d in range(r)]
        nodes.append(Node("Transpose", fresh("Transpose"), [y], [out], attrs={"perm": inv}))
    else:
        nodes.append(Node("Identity", fresh("Identity"), [y], [out]))
    return nodes


PASS = LowerDft()
