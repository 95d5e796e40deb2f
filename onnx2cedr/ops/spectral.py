"""DFT (opset 17 and 20): a discrete Fourier transform along one axis of a real ([..., n, 1]) or complex
([..., n, 2]) signal, forward or inverse, onesided or full, to a given length.

The pass lower_dft rewrites a node as matrix products with constant cosine and sine tables (the
transform of length L is an L x K complex matrix: one DASH_GEMM_RE per real/imaginary part), with
Transpose / Slice / Pad / Concat around them. That is O(L K) per signal, where a fast transform
is O(L log L): exact for every length, and a GEMM the scheduler can place on an accelerator. This
module checks what a node asks for (the axis and the length must be constants) and infers its
output.

STFT (opset 17): the frames of a signal (frame_step and frame_length constants), each multiplied by
the window if there is one, then the DFT of each: lowered by the same pass (a Gather of the frames
with a constant index table, a Mul, the DFT's matrix products).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import Graph, Node
from .base import LoweredByPass, Unsupported, register

F32 = np.dtype(np.float32)


@dataclasses.dataclass
class DftSpec:
    shape: tuple[int, ...]  # the input's
    axis: int               # normalized, never the last (the real/imaginary) axis
    length: int             # L: the transform's length (the input is cut or zero-padded to it)
    inverse: bool
    onesided: bool

    @property
    def real_inverse(self) -> bool:
        """inverse and onesided: the inverse of a real signal's one-sided spectrum (irfft), a real
        signal of `length` samples from the first length / 2 + 1 bins (Hermitian symmetry)."""
        return self.inverse and self.onesided

    @property
    def bins(self) -> int:
        if self.real_inverse:
            return self.length
        return self.length // 2 + 1 if self.onesided else self.length

    @property
    def out_shape(self) -> tuple[int, ...]:
        s = list(self.shape)
        s[self.axis] = self.bins
        s[-1] = 1 if self.real_inverse else 2
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
    inverse, onesided = bool(node.attrs.get("inverse", 0)), bool(node.attrs.get("onesided", 0))
    if node.input(1):
        length = _const_int(graph, node.input(1), "dft_length")
    else:  # an inverse of a one-sided spectrum: the even length it came from, as onnx's reference
        length = 2 * (shape[axis] - 1) if inverse and onesided else shape[axis]
    if length < 1:
        raise Unsupported(f"dft_length {length} must be positive")
    if onesided and not inverse and shape[-1] != 1:
        raise Unsupported("onesided needs a real input")
    return DftSpec(shape, axis, length, inverse, onesided)


@register
class OpDFT(LoweredByPass):
    op_type = "DFT"
    attrs = {"axis": None, "inverse": 0, "onesided": 0}
    dtypes = (F32,)
    api = "DASH_GEMM_RE"
    lowered_by = "lower_dft"
    summary = ("lowered by the pass lower_dft to matrix products with constant cosine/sine tables (DASH_GEMM_RE), "
               "any length, forward or inverse, onesided or full (inverse onesided: the real inverse, irfft); "
               "the axis and dft_length must be constants")

    def spec(self, graph, node):
        return dft_spec(graph, node)

    def flops(self, graph, node):
        sp = dft_spec(graph, node)
        signals = int(np.prod(sp.shape[:-1], dtype=np.int64)) // sp.shape[sp.axis]
        return 2 * signals * sp.length * sp.bins * 2 * sp.shape[-1]


@dataclasses.dataclass
class StftSpec:
    shape: tuple[int, ...]  # the signal's: [batch, length, 1 or 2]
    step: int
    frame_length: int
    onesided: bool

    @property
    def frames(self) -> int:
        return (self.shape[1] - self.frame_length) // self.step + 1

    @property
    def out_shape(self) -> tuple[int, ...]:
        bins = self.frame_length // 2 + 1 if self.onesided else self.frame_length
        return (self.shape[0], self.frames, bins, 2)


def stft_spec(graph: Graph, node: Node) -> StftSpec:
    x = graph.value(node.inputs[0])
    shape = tuple(int(d) for d in x.shape)
    if len(shape) != 3 or shape[-1] not in (1, 2):
        raise Unsupported(f"the signal must be [batch, length, 1 or 2], got shape {list(shape)}")
    step = _const_int(graph, node.input(1), "frame_step")
    if node.input(2):
        w = graph.value(node.input(2))
        if len(w.shape) != 1:
            raise Unsupported("the window must be 1-D")
        frame_length = int(w.shape[0])
        if node.input(3) and _const_int(graph, node.input(3), "frame_length") != frame_length:
            raise Unsupported("frame_length differs from the window's length")
    elif node.input(3):
        frame_length = _const_int(graph, node.input(3), "frame_length")
    else:
        raise Unsupported("it needs a window or a frame_length")
    onesided = bool(node.attrs.get("onesided", 1))
    if step < 1 or not 1 <= frame_length <= shape[1]:
        raise Unsupported(f"frame_step {step} and frame_length {frame_length} do not fit a signal of {shape[1]}")
    if onesided and shape[-1] != 1:
        raise Unsupported("onesided needs a real signal")
    return StftSpec(shape, step, frame_length, onesided)


@register
class OpSTFT(LoweredByPass):
    op_type = "STFT"
    attrs = {"onesided": 1}
    dtypes = (F32,)
    api = "DASH_GEMM_RE"
    lowered_by = "lower_dft"
    summary = ("lowered by the pass lower_dft: frames gathered by a constant index table, windowed, then the "
               "DFT's matrix products (DASH_GEMM_RE); frame_step and frame_length must be constants")

    def spec(self, graph, node):
        return stft_spec(graph, node)

    def flops(self, graph, node):
        sp = stft_spec(graph, node)
        return 4 * sp.shape[0] * sp.frames * sp.frame_length * sp.out_shape[2] * sp.shape[-1]
