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


def zip_calls(a: str, b: str, out: str, n: int, op: str, offsets=(0, 0, 0)) -> list[Call]:
    """out = a op b over n floats as n // 2 complex pairs; an odd last element inline. offsets: in
    floats, of a, b and out."""
    oa, ob, oo = offsets
    calls = [Call("DASH_ZIP_flt", [TensorArg(a, oa, CPLX), TensorArg(b, ob, CPLX), TensorArg(out, oo, CPLX),
                                   ScalarArg("size_t", n // 2), ScalarArg("zip_op_t", op)],
                  None, api="DASH_ZIP", flops=n - n % 2)]
    if n % 2:
        last = n - 1
        one = [1] * 8
        fields = {"op": {"ZIP_ADD": "DASH_BIN_ADD", "ZIP_SUB": "DASH_BIN_SUB"}[op], "rank": 1, "out_shape": one,
                  "a_stride": one, "b_stride": one, "act": {"op": "DASH_ACT_NONE", "alpha": 0.0, "beta": 0.0}}
        calls.append(Call("o2c_binary", [TensorArg(a, oa + last), TensorArg(b, ob + last), TensorArg(out, oo + last)],
                          Params("dash_binary_params_t", fields), flops=1, comment="the odd last element"))
    return calls


def int16_conv(graph: Graph, node: Node, p: dict, w: np.ndarray, k: int) -> Lowered:
    """The --conv int16 lowering of a 2-D convolution whose checks held (see the module's doc)."""
    from .eltwise import binary_call

    cin, cout, nb = p["in_channels"], p["out_channels"], p["batch"]
    hgt, wid = p["in_size"][:2]
    oh, ow = p["out_size"][:2]
    plane, pix = hgt * wid, oh * ow
    h = k // 2
    norms = np.abs(w).reshape(cout, cin, -1).sum(axis=2)
    norms[norms == 0] = 1.0
    masks = (w.reshape(cout, cin, k * k) / norms[:, :, None]).astype(np.float32)
    mask = graph.fresh_name(f"{node.name}/public_masks")
    graph.add_const(mask, masks)

    def tmp(what, dtype, shape):
        name = graph.fresh_name(f"{node.name}/public_{what}")
        graph.add_value(name, dtype, shape)
        return name

    q = tmp("q", np.int16, (cin, plane))
    scale = tmp("scale", np.float32, (cin,))
    same = tmp("same", np.int16, (plane,))
    part = tmp("part", np.float32, (pix,))
    y = node.outputs[0]
    base = {"channels": cin, "height": hgt, "width": wid, "out_h": oh, "out_w": ow, "stride_h": p["stride"][0],
            "stride_w": p["stride"][1], "off_h": h - p["pad_begin"][0], "off_w": h - p["pad_begin"][1],
            "channel": 0, "factor": 1.0}
    i16 = "dash_re_int_type"
    calls = []
    for b in range(nb):
        calls.append(Call("o2c_i16_quantize", [TensorArg(node.inputs[0], b * cin * plane), TensorArg(q, cast=i16),
                                               TensorArg(scale)], Params("o2c_i16_params_t", dict(base)),
                          comment=f"image {b}: int16 planes"))
        for o in range(cout):
            yo = (b * cout + o) * pix
            for c in range(cin):
                calls.append(Call("DASH_CONV_2D_int",
                                  [TensorArg(q, c * plane, i16), ScalarArg("int", hgt), ScalarArg("int", wid),
                                   TensorArg(mask, (o * cin + c) * k * k, "dash_re_flt_type"), ScalarArg("int", k),
                                   TensorArg(same, cast=i16)], None, api="DASH_CONV_2D", prec="int",
                                  flops=2 * plane * k * k))
                dst, off = (y, yo) if c == 0 else (part, 0)
                calls.append(Call("o2c_i16_dequant", [TensorArg(same, cast=i16), TensorArg(scale), TensorArg(dst, off)],
                                  Params("o2c_i16_params_t", dict(base, channel=c, factor=float(norms[o, c]))),
                                  comment=f"output channel {o} <- input channel {c}"))
                if c > 0:
                    calls += zip_calls(y, part, y, pix, "ZIP_ADD", (yo, 0, yo))
    bias = node.input(2) or None
    if bias is not None:
        b3 = graph.fresh_name(f"{node.name}/public_bias")
        graph.add_const(b3, np.asarray(graph.const(bias), dtype=np.float32).reshape(cout, 1, 1))
        epi = binary_call(graph, y, b3, y, "DASH_BIN_ADD", act_fields(node))
        epi.api = None
        calls.append(epi)
    elif node.act is not None:
        calls.append(Call("o2c_unary", [TensorArg(y), TensorArg(y)],
                          Params("dash_unary_params_t", {"n": graph.values[y].size, "op": act_fields(node)}),
                          comment="fused activation"))
    return Lowered(calls, reason=f"public target, --conv int16: {cin * cout} DASH_CONV_2D_int calls per image "
                                 f"({cin}x{cout} channel pairs, {k}x{k} masks), accumulated with DASH_ZIP_flt",
                   temps=[q, scale, same, part])
