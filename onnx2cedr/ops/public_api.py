"""Lowering helpers for the public API set (convert --api public): real layers on the public
CEDR APIs, and the rule that decides whether a public call pays for a layer.

The public GEMM is complex (``DASH_GEMM_flt``: C = A·B on {re, im} pairs, row-major, A rows_A x
cols_A, B cols_A x cols_B), so a real product runs on complex-packed data with zero imaginary
parts: the app packs its operands (constants are packed at compile time into the weights file),
the call does 4x the real multiply-adds (8 flops per MAC instead of 2), and the app unpacks the
real parts, adding bias and the fused activation. Convolutions go through im2col:
C (out_channels x pixels) = W (out_channels x in_channels·kernel) · im2col(x), one call per image.
``DASH_ZIP_flt`` adds or subtracts complex values component-wise, so two float tensors viewed as
pairs of floats are added with no packing at all.

Decision rule (per layer, shown by `inspect`): a public call pays when
  - the product has at least MIN_GEMM_MACS real multiply-adds (below that, a task's dispatch
    costs more than the product itself), and
  - the values the app thread packs and unpacks around it are at most MAX_PACK_FRACTION of the
    real MACs (1/N + 1/K of them for a constant B; for a convolution 1/out_channels + 1/K), so
    the app thread keeps a small share of the work it hands to the PE;
  - element-wise add/sub: at least MIN_ZIP_ELEMS elements (same shapes, no broadcasting).
Otherwise the layer runs inline in the app, with the kernel library's real-valued code.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .base import Call, Lowered, NullArg, Params, ScalarArg, TensorArg, act_fields

MIN_GEMM_MACS = 4096
MAX_PACK_FRACTION = 0.25
MIN_ZIP_ELEMS = 256
CPLX = "dash_cmplx_flt_type"
C64 = np.dtype(np.complex64)


def inline(low: Lowered, reason: str) -> Lowered:
    """The generic lowering, every call inline (kernel code linked into the app)."""
    for c in low.calls:
        c.api = None
    low.reason = reason
    return low


def gemm_decision(macs: int, packed: int, what: str) -> tuple[bool, str]:
    """Whether a real product of `macs` MACs with `packed` values packed/unpacked on the app thread
    goes to DASH_GEMM_flt, and why."""
    frac = packed / max(macs, 1)
    if macs < MIN_GEMM_MACS:
        return False, (f"public target: inline, {what} of {macs} MACs < {MIN_GEMM_MACS} "
                       f"(a task's dispatch costs more than the product)")
    if frac > MAX_PACK_FRACTION:
        return False, (f"public target: inline, packing {packed} values = {frac:.0%} of its {macs} MACs "
                       f"> {MAX_PACK_FRACTION:.0%}")
    return True, (f"public target: DASH_GEMM_flt, {what} of {macs} MACs >= {MIN_GEMM_MACS}, packing "
                  f"{packed} values = {frac:.1%} of them <= {MAX_PACK_FRACTION:.0%} (complex: 4x the real work)")


def zip_decision(n: int, same_shapes: bool) -> tuple[bool, str]:
    if not same_shapes:
        return False, "public target: inline, broadcasting (DASH_ZIP_flt needs equal shapes)"
    if n < MIN_ZIP_ELEMS:
        return False, f"public target: inline, {n} elements < {MIN_ZIP_ELEMS} (a task's dispatch costs more)"
    return True, f"public target: DASH_ZIP_flt on {n // 2} float pairs, {n} elements >= {MIN_ZIP_ELEMS}"


def temp(graph: Graph, node: Node, what: str, shape) -> str:
    name = graph.fresh_name(f"{node.name}/public_{what}")
    graph.add_value(name, C64, shape)
    return name


def packed_const(graph: Graph, node: Node, what: str, matrix: np.ndarray) -> str:
    """A constant operand packed at compile time (complex, imaginary parts zero)."""
    name = graph.fresh_name(f"{node.name}/public_{what}")
    graph.add_const(name, np.ascontiguousarray(matrix, dtype=np.float32).astype(C64))
    return name


def pack_call(src: str, dst: str, rows: int, cols: int, trans: bool, offset: int = 0) -> Call:
    fields = {"rows": rows, "cols": cols, "trans": int(trans), "bias_kind": 0, "alpha": 1.0, "beta": 0.0,
              "act": {"op": "DASH_ACT_NONE", "alpha": 0.0, "beta": 0.0}}
    return Call("o2c_cplx_pack", [TensorArg(src, offset), TensorArg(dst, cast=CPLX)],
                Params("o2c_cplx_params_t", fields), comment="pack (complex, imaginary 0)")


def unpack_call(node: Node, src: str, bias: str | None, dst: str, rows: int, cols: int, bias_kind: int,
                alpha: float = 1.0, beta: float = 1.0, offset: int = 0) -> Call:
    fields = {"rows": rows, "cols": cols, "trans": 0, "bias_kind": bias_kind if bias else 0, "alpha": float(alpha),
              "beta": float(beta), "act": act_fields(node)}
    return Call("o2c_cplx_unpack", [TensorArg(src, cast=CPLX), TensorArg(bias) if bias else NullArg(),
                                    TensorArg(dst, offset)],
                Params("o2c_cplx_params_t", fields), comment="real parts, bias, activation")


def cgemm_call(a: str, b: str, c: str, m: int, k: int, n: int) -> Call:
    args = [TensorArg(a, cast=CPLX), TensorArg(b, cast=CPLX), TensorArg(c, cast=CPLX),
            ScalarArg("size_t", m), ScalarArg("size_t", k), ScalarArg("size_t", n)]
    return Call("DASH_GEMM_flt", args, None, api="DASH_GEMM", flops=8 * m * n * k)


def zip_calls(a: str, b: str, out: str, n: int, op: str) -> list[Call]:
    """out = a op b over n floats as n // 2 complex pairs; an odd last element inline."""
    calls = [Call("DASH_ZIP_flt", [TensorArg(a, cast=CPLX), TensorArg(b, cast=CPLX), TensorArg(out, cast=CPLX),
                                   ScalarArg("size_t", n // 2), ScalarArg("zip_op_t", op)],
                  None, api="DASH_ZIP", flops=n - n % 2)]
    if n % 2:
        last = n - 1
        one = [1] * 8
        fields = {"op": {"ZIP_ADD": "DASH_BIN_ADD", "ZIP_SUB": "DASH_BIN_SUB"}[op], "rank": 1, "out_shape": one,
                  "a_stride": one, "b_stride": one, "act": {"op": "DASH_ACT_NONE", "alpha": 0.0, "beta": 0.0}}
        calls.append(Call("o2c_binary", [TensorArg(a, last), TensorArg(b, last), TensorArg(out, last)],
                          Params("dash_binary_params_t", fields), flops=1, comment="the odd last element"))
    return calls
