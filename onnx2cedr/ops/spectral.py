"""DFT (opset 17 and 20): a discrete Fourier transform along one axis of a real ([..., n, 1]) or complex
([..., n, 2]) signal, forward or inverse, onesided or full, to a given length.

The pass lower_dft rewrites a node as matrix products with constant cosine and sine tables (the
transform of length L is an L x K complex matrix: one DASH_GEMM_RE per real/imaginary part), with
Transpose / Slice / Pad / Concat around them. That is O(L K) per signal, where a fast transform
is O(L log L): exact for every length, and a GEMM the scheduler can place on an accelerator. This
module checks what a node asks for (the axis and the length must be constants) and infers its
output.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import Graph, Node
from .base import OpDef, Unsupported, register

F32 = np.dtype(np.float32)


@dataclasses.dataclass
class DftSpec:
    shape: tuple[int, ...]  # the input's
    axis: int               # normalized, never the last (the real/imaginary) axis
    length: int             # L: the transform's length (the input is cut or zero-padded to it)
    inverse: bool
    onesided: bool

    @property
    def bins(self) -> int:
        return self.length // 2 + 1 if self.onesided else self.length

    @property
    def out_shape(self) -> tuple[int, ...]:
        s = list(self.shape)
        s[self.axis] = self.bins
        s[-1] = 2
        return tuple(s)


def _const_int(graph: Graph, name: str, what: str) -> int:
    c = graph.const(name)
    if c is None:
        raise Unsupported(f"its {what} must be a constant")
    c = np.asarray(c)
    if c.size != 1:
        raise Unsupported(f"its {what} must be a scalar")
    return int(c.reshape(-1)[0])


def dft_spec(graph: Graph, node: Node) -> DftSpec:
    x = graph.value(node.inputs[0])
    shape = tuple(int(d) for d in x.shape)
    r = len(shape)
    if r < 2 or shape[-1] not in (1, 2):
        raise Unsupported(f"the input must end in a dimension of 1 (real) or 2 (complex), got shape {list(shape)}")
    if "axis" in node.attrs:  # opset 17
        axis = int(node.attrs["axis"])
    elif node.input(2):  # opset 20
        axis = _const_int(graph, node.input(2), "axis")
    else:
        axis = -2
    if not -r <= axis < r:
        raise Unsupported(f"axis {axis} is out of range for rank {r}")
    axis %= r
    if axis == r - 1:
        raise Unsupported("the axis cannot be the last (real/imaginary) one")
    length = _const_int(graph, node.input(1), "dft_length") if node.input(1) else shape[axis]
    if length < 1:
        raise Unsupported(f"dft_length {length} must be positive")
    inverse, onesided = bool(node.attrs.get("inverse", 0)), bool(node.attrs.get("onesided", 0))
    if inverse and onesided:
        raise Unsupported("inverse and onesided cannot both be set")
    if onesided and shape[-1] != 1:
        raise Unsupported("onesided needs a real input")
    return DftSpec(shape, axis, length, inverse, onesided)


@register
class OpDFT(OpDef):
    op_type = "DFT"
    attrs = {"axis": None, "inverse": 0, "onesided": 0}
    dtypes = (F32,)
    has_infer = True
    api = "DASH_GEMM_RE"
    summary = ("lowered by the pass lower_dft to matrix products with constant cosine/sine tables (DASH_GEMM_RE), "
               "any length, forward or inverse, onesided or full; the axis and dft_length must be constants")

    def check_node(self, graph, node):
        dft_spec(graph, node)

    def infer(self, graph, node):
        sp = dft_spec(graph, node)
        return [(graph.value(node.inputs[0]).dtype, sp.out_shape)]

    def flops(self, graph, node):
        sp = dft_spec(graph, node)
        signals = int(np.prod(sp.shape[:-1], dtype=np.int64)) // sp.shape[sp.axis]
        return 2 * signals * sp.length * sp.bins * 2 * sp.shape[-1]

    def lower(self, graph, node):
        raise Unsupported("DFT is lowered by the pass lower_dft, which is disabled")
