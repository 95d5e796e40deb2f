"""Lower each DFT and STFT node (see ops/spectral.py) to matrix products with constant tables.

For a signal x of length L along the node's axis (cut or zero-padded to dft_length), the K output
bins (K = L, or L/2 + 1 onesided) are

    X_k = s * sum_n (xr_n + i xi_n) (cos t - i d sin t),   t = 2 pi k n / L,
    d = +1 forward, -1 inverse; s = 1 forward, 1/L inverse

so with C[n, k] = s cos t and S[n, k] = s d sin t (float64 tables, stored as float32):

    Yr = xr @ C + xi @ S        Yi = xi @ C - xr @ S        (a real input has no xi terms)

The axis is moved next to last (Transpose), the real and imaginary parts split off (Slice), and
the two results stacked back into the last dimension (Unsqueeze + Concat), then moved back. The
inverse of a one-sided spectrum (inverse and onesided: irfft) is real: Hermitian-weighted tables
(_irfft_nodes), one output of last dimension 1. A
lowering, not an optimization: with this pass disabled, DFT cannot be placed.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..ops.spectral import DftSpec, dft_spec, stft_spec
from .common import Pass


class LowerDft(Pass):
    NAME = "lower_dft"

    def apply(self, graph: Graph) -> bool:
        changed = False
        for n in [n for n in graph.nodes if n.op in ("DFT", "STFT") and not n.domain]:
            new = _lower(graph, n) if n.op == "DFT" else _lower_stft(graph, n)
            i = graph.nodes.index(n)
            graph.nodes[i:i + 1] = new
            changed = True
        return changed


def _lower_stft(graph: Graph, node: Node) -> list[Node]:
    """STFT: frames gathered with a constant index table ([F, Lf] positions f * step + j), multiplied by
    the window, then the DFT of every frame along its own axis (as _lower)."""
    sp = stft_spec(graph, node)
    b, _, c = sp.shape
    frames = _Builder(graph, node)
    idx = frames.const("frames_index", (np.arange(sp.frames)[:, None] * sp.step + np.arange(sp.frame_length)[None, :])
                       .astype(np.int64))
    x = frames.add("Gather", [node.inputs[0], idx], "frames", axis=1)  # [B, F, Lf, c]
    if node.input(2):
        w = frames.add("Reshape", [node.input(2), frames.const("wshape", [sp.frame_length, 1])], "window")
        x = frames.add("Mul", [x, w], "windowed")
    spec = DftSpec((b, sp.frames, sp.frame_length, c), 2, sp.frame_length, False, sp.onesided)
    _dft_nodes(graph, node, x, spec, node.outputs[0], frames)
    return frames.nodes


class _Builder:
    """Fresh names, constants and nodes for one node's lowering."""

    def __init__(self, graph: Graph, node: Node):
        self.graph, self.node = graph, node
        self.nodes: list[Node] = []
        self.names = set(graph.values) | {o for n in graph.nodes for o in n.outputs} | {n.name for n in graph.nodes}

    def fresh(self, base: str) -> str:
        name, k = f"{self.node.name}/{base}", 0
        while name in self.names:
            k += 1
            name = f"{self.node.name}/{base}__{k}"
        self.names.add(name)
        return name

    def const(self, base: str, value) -> str:
        name = self.fresh(base)
        self.graph.add_const(name, np.asarray(value))
        return name

    def add(self, op: str, inputs: list[str], base: str, **attrs) -> str:
        o = self.fresh(base)
        self.nodes.append(Node(op, self.fresh(op), inputs, [o], attrs=attrs))
        return o


def _lower(graph: Graph, node: Node) -> list[Node]:
    return _dft_nodes(graph, node, node.inputs[0], dft_spec(graph, node), node.outputs[0], _Builder(graph, node))


def _dft_nodes(graph: Graph, node: Node, x: str, sp: DftSpec, out: str, bld: "_Builder") -> list[Node]:
    """The nodes computing `out` = the DFT `sp` of `x` (whose shape is sp.shape)."""
    r = len(sp.shape)
    start = len(bld.nodes)
    nodes = bld.nodes
    fresh, const, add = bld.fresh, bld.const, bld.add

    # the axis next to last: [..., N, c]
    perm = [d for d in range(r - 1) if d != sp.axis] + [sp.axis, r - 1]
    if perm != list(range(r)):
        x = add("Transpose", [x], "moved", perm=perm)
    n = sp.shape[sp.axis]
    L, K = sp.length, sp.bins

    def part(k: int) -> str:  # [..., N] -> [..., L]
        p = add("Slice", [x, const("start", [k]), const("end", [k + 1]), const("axes", [-1])], "part")
        p = add("Squeeze", [p, const("last", [-1])], "part")
        if sp.real_inverse:
            return p  # the bins as they are: the tables have one row per input bin
        if L < n:
            p = add("Slice", [p, const("zero", [0]), const("len", [L]), const("axes", [-1])], "cut")
        elif L > n:
            lead = r - 2  # the other axes of the moved signal
            p = add("Pad", [p, const("pads", [0] * (lead + 1) + [0] * lead + [L - n])], "padded")
        return p

    if sp.real_inverse:
        return _irfft_nodes(sp, x, part, perm, out, bld, start)
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
    return nodes[start:]



def _irfft_nodes(sp: DftSpec, x: str, part, perm: list[int], out: str, bld: "_Builder", start: int) -> list[Node]:
    """The real inverse of a one-sided spectrum X (n bins; those past L / 2 are ignored, missing ones
    are zero): y_m = (1/L) sum_k w_k (Re X_k cos t - Im X_k sin t), t = 2 pi k m / L, w_0 = 1, w_k = 2
    for 0 < k < L / 2, w_{L/2} = 1 (even L); the imaginary parts of X_0 and X_{L/2} drop out (sin t = 0)."""
    r, n, L = len(sp.shape), sp.shape[sp.axis], sp.length
    k = np.arange(n, dtype=np.float64)
    w = np.where(k == 0, 1.0, 2.0)
    if L % 2 == 0:
        w = np.where(k == L // 2, 1.0, w)
    w = np.where(k > L // 2, 0.0, w)
    t = 2.0 * np.pi * np.mod(np.outer(k, np.arange(L, dtype=np.float64)), L) / L
    sin = np.sin(t)
    sin[(k == 0) | (2 * k == L)] = 0.0
    C = bld.const("icos", (w[:, None] * np.cos(t) / L).astype(np.float32))
    y = bld.add("MatMul", [part(0), C], "re")
    if sp.shape[-1] == 2:
        S = bld.const("isin", (w[:, None] * sin / L).astype(np.float32))
        y = bld.add("Sub", [y, bld.add("MatMul", [part(1), S], "is")], "real")
    y = bld.add("Unsqueeze", [y, bld.const("last", [-1])], "real1")
    if perm != list(range(r)):
        inv = [perm.index(d) for d in range(r)]
        bld.nodes.append(Node("Transpose", bld.fresh("Transpose"), [y], [out], attrs={"perm": inv}))
    else:
        bld.nodes.append(Node("Identity", bld.fresh("Identity"), [y], [out]))
    return bld.nodes[start:]


PASS = LowerDft()
