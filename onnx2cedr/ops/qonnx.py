"""QONNX quantizers (what Brevitas exports; domain qonnx.custom_op.general, and the older
finn.custom_op.general): declared here with their shapes and legality, and written out as standard
ONNX ops by `expand` (the lower_qonnx pass on the compiler's graph, quantize/qonnx.py on an ONNX model
for the reference run: one recipe for both).

    Quant(x, scale, zeropt, bitwidth; signed, narrow, rounding_mode)
        y = (clip(round(x / scale + zeropt), lo, hi) - zeropt) * scale
        lo, hi = -2^(b-1) + narrow, 2^(b-1) - 1 (signed); 0, 2^b - 1 - narrow (unsigned)
        -> Div, Add, Round|Floor|Ceil|Sign*Floor(Abs), Clip, Sub, Mul
    BipolarQuant(x, scale)
        y = scale * (x >= 0 ? +1 : -1)  -> Where(GreaterOrEqual(x, 0), scale, Neg(scale))

Clipping before or after rounding gives the same result (integer bounds, monotonic rounding). The
scale, zero point and bit width of Quant must be constants (the bit width a scalar integer in
[1, 32]); BipolarQuant's scale may be computed. A binarized MatMul/Gemm (BipolarQuant on its input
and a bipolar weight constant) is then found in the standard form by the fuse_binary pass."""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from .base import OpDef, Unsupported, register

QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general")
ROUNDING = ("ROUND", "HALF_EVEN", "CEIL", "FLOOR", "ROUND_TO_ZERO")


class Emitter(Protocol):
    """Where `expand` writes its standard ops: a graph of the compiler or an ONNX model."""

    def const(self, hint: str, array: np.ndarray) -> str: ...

    def op(self, op_type: str, inputs: list[str], attrs: dict | None = None, out: str | None = None) -> str: ...


def quant_bounds(bitwidth: np.ndarray | None, signed: int, narrow: int) -> tuple[int, int]:
    """The integer range [lo, hi] of a Quant with this constant bit width; Unsupported when it is
    not a scalar integer in [1, 32]."""
    if bitwidth is None:
        raise Unsupported("the bit width must be a constant")
    bw = np.asarray(bitwidth, dtype=np.float64)
    if bw.size != 1:
        raise Unsupported(f"the bit width must be a scalar (shape {list(bw.shape)})")
    b = float(bw.reshape(()))
    if not np.isfinite(b) or b != int(b) or not 1 <= b <= 32:
        raise Unsupported(f"bit width {b:g} (must be an integer in [1, 32])")
    b = int(b)
    if signed:
        return -(1 << (b - 1)) + int(bool(narrow)), (1 << (b - 1)) - 1
    return 0, (1 << b) - 1 - int(bool(narrow))


def check_quant(attrs: dict, scale, zeropt, bitwidth) -> tuple[int, int]:
    """Legality of a Quant node from its attributes and constant inputs (None: not constant)."""
    mode = attrs.get("rounding_mode", "ROUND")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    if mode.upper() not in ROUNDING:
        raise Unsupported(f"rounding_mode '{mode}' (supported: {', '.join(ROUNDING)})")
    if scale is None or zeropt is None:
        raise Unsupported("the scale and zero point must be constants")
    if np.any(np.asarray(scale) == 0) or not np.all(np.isfinite(scale)):
        raise Unsupported("the scale must be finite and nonzero")
    lo, hi = quant_bounds(bitwidth, int(attrs.get("signed", 1)), int(attrs.get("narrow", 0)))
    if lo > hi:
        raise Unsupported(f"an empty integer range [{lo}, {hi}] (bit width 1, signed and narrow)")
    return lo, hi


def expand(op: str, attrs: dict, inputs: list[str], const: Callable[[str], np.ndarray | None], dtype,
           e: Emitter, out: str) -> None:
    """Write the node (op Quant or BipolarQuant, its inputs' names, `const` giving an input's constant
    value or None) as standard ops into `e`, its result named `out`. dtype: x's element type."""
    dt = np.dtype(dtype)
    x = inputs[0]
    if op == "BipolarQuant":
        zero = e.const("zero", np.zeros((), dt))
        ge = e.op("GreaterOrEqual", [x, zero])
        s = inputs[1]
        sv = const(s)
        neg = e.const("neg_scale", (-sv).astype(dt)) if sv is not None else e.op("Neg", [s])
        e.op("Where", [ge, s, neg], out=out)
        return
    scale, zp, bw = inputs[1], inputs[2], inputs[3]
    zv = const(zp)
    lo, hi = check_quant(attrs, const(scale), zv, const(bw))
    has_zero = bool(np.any(zv != 0))
    t = e.op("Div", [x, scale])
    if has_zero:
        t = e.op("Add", [t, e.const("zeropt", np.asarray(zv, dt))])
    mode = attrs.get("rounding_mode", "ROUND")
    mode = (mode.decode() if isinstance(mode, bytes) else str(mode)).upper()
    if mode == "ROUND_TO_ZERO":
        t = e.op("Mul", [e.op("Sign", [t]), e.op("Floor", [e.op("Abs", [t])])])
    else:
        t = e.op({"ROUND": "Round", "HALF_EVEN": "Round", "CEIL": "Ceil", "FLOOR": "Floor"}[mode], [t])
    t = e.op("Clip", [t, e.const("lo", np.asarray(lo, dt)), e.const("hi", np.asarray(hi, dt))])
    if has_zero:
        t = e.op("Sub", [t, e.const("zeropt", np.asarray(zv, dt))])
    e.op("Mul", [t, scale], out=out)


class _QonnxOp(OpDef):
    has_infer = True
    n_inputs = 2

    def infer(self, graph, node):
        shapes = [graph.value(i).shape for i in node.inputs[:self.n_inputs] if i]
        try:
            shape = np.broadcast_shapes(*shapes)
        except ValueError:
            raise Unsupported(f"inputs of shapes {[list(s) for s in shapes]} do not broadcast") from None
        return [(graph.value(node.inputs[0]).dtype, shape)]

    def check_node(self, graph, node):
        if len([i for i in node.inputs if i]) != self.n_inputs:
            raise Unsupported(f"{self.n_inputs} inputs expected, got {len(node.inputs)}")

    def lower(self, graph, node):
        raise Unsupported(f"{node.op} is lowered by the lower_qonnx pass (disabled?)")


class _Quant(_QonnxOp):
    op_type = "Quant"
    attrs = {"signed": 1, "narrow": 0, "rounding_mode": "ROUND"}
    n_inputs = 4
    summary = "QONNX integer quantizer (scale, zero point, bit width): lowered to Div/Round/Clip/Mul"

    def check_node(self, graph, node):
        super().check_node(graph, node)
        check_quant({k: self.attr(node, k) for k in self.attrs}, *(graph.const(node.input(i)) for i in (1, 2, 3)))


class _BipolarQuant(_QonnxOp):
    op_type = "BipolarQuant"
    attrs = {}
    summary = "QONNX binarizer, scale * (x >= 0 ? 1 : -1): lowered to Where/GreaterOrEqual; XNOR layers"


for _domain in QONNX_DOMAINS:
    for _base in (_Quant, _BipolarQuant):
        register(type(_base.__name__.lstrip("_"), (_base,), {"domain": _domain, "__module__": __name__}))
